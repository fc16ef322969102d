"""One client connection on the wire, as a sans-IO state machine.

Bytes in (`receive`), bytes out (`data_to_send`); the asyncio server only moves them. Frames
are decoded by pamqp and turned into calls on the broker core; the core's results and
outbound work become frames again. Errors close what RabbitMQ closes, with its reply codes.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from enum import Enum
from typing import Any

from pamqp import body, commands, decode, frame, header
from pamqp.exceptions import UnmarshalingException

from rabbitsim import __version__
from rabbitsim.broker import (
    ACCESS_REFUSED,
    CHANNEL_ERROR,
    COMMAND_INVALID,
    NOT_ALLOWED,
    SYNTAX_ERROR,
    UNEXPECTED_FRAME,
    AMQPError,
    Broker,
    Channel,
    ChannelError,
    Connection,
    ConnectionError,
    ConsumerCancelled,
    Deliver,
    Outbound,
    PublisherAck,
    PublisherNack,
    Return,
)

from ._framing import (
    FRAME_CONTENT_HEADER,
    FRAME_HEARTBEAT,
    FRAME_METHOD,
    HEARTBEAT_FRAME,
    PROTOCOL_HEADER,
    content_frames,
    next_frame,
)

CHANNEL_MAX = 2047
FRAME_MAX = 131072
HEARTBEAT = 60

#: What RabbitMQ advertises; clients switch features on by these.
CAPABILITIES = {
    "publisher_confirms": True,
    "exchange_exchange_bindings": True,
    "basic.nack": True,
    "consumer_cancel_notify": True,
    "connection.blocked": True,
    "authentication_failure_close": True,
    "per_consumer_qos": True,
    "direct_reply_to": True,
    "consumer_priorities": True,
}


#: What pamqp raises on bytes it cannot decode.
DECODE_ERRORS = (UnmarshalingException, ValueError, KeyError, IndexError, UnicodeDecodeError, TypeError)


class State(Enum):
    AWAIT_HEADER = "await protocol header"
    AWAIT_START_OK = "await connection.start-ok"
    AWAIT_TUNE_OK = "await connection.tune-ok"
    AWAIT_OPEN = "await connection.open"
    OPEN = "open"
    CLOSING = "closing"  # we sent connection.close and wait for close-ok
    CLOSED = "closed"


def _method_name(method: Any) -> str:
    return str(method.name).lower()


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class _Content:
    """A basic.publish waiting for its content header and body frames."""

    __slots__ = ("chunks", "expected", "method", "properties", "received")

    def __init__(self, method: commands.Basic.Publish) -> None:
        self.method = method
        self.properties: commands.Basic.Properties | None = None
        self.expected = -1
        self.received = 0
        self.chunks: list[bytes] = []


Handler = Callable[["AMQPConnection", Channel, Any], Any]


class AMQPConnection:
    def __init__(
        self,
        broker: Broker,
        *,
        from_loopback: bool = True,
        clock: Callable[[], float] | None = None,
        heartbeat: int = HEARTBEAT,
    ) -> None:
        self.broker = broker
        self.from_loopback = from_loopback
        self.clock = clock or broker.clock
        self.state = State.AWAIT_HEADER
        self.core: Connection | None = None
        self.client_properties: dict[str, Any] = {}
        self.capabilities: dict[str, Any] = {}
        self.user = ""
        self.frame_max = FRAME_MAX
        self.channel_max = CHANNEL_MAX
        self.heartbeat = heartbeat  # what we offer; the client's tune-ok decides
        self.closing_channels: set[int] = set()  # we sent channel.close, wait for close-ok
        self.pending: dict[int, _Content] = {}
        self.close_reason: AMQPError | None = None
        self._in = bytearray()
        self._out: list[bytes] = []
        now = self.clock()
        self.last_received = now
        self.last_sent = now

    # --- bytes in, bytes out -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the transport should close (after sending what is queued)."""
        return self.state is State.CLOSED

    def data_to_send(self) -> bytes:
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        self.last_sent = self.clock()
        return data

    def receive(self, data: bytes) -> None:
        if self.state is State.CLOSED:
            return
        self.last_received = self.clock()
        buffer = self._in
        buffer += data
        at = 0
        try:
            if self.state is State.AWAIT_HEADER:
                if len(buffer) < len(PROTOCOL_HEADER):
                    return
                if buffer[: len(PROTOCOL_HEADER)] != PROTOCOL_HEADER:
                    self._out.append(PROTOCOL_HEADER)  # tell the client what we speak, and hang up
                    self.state = State.CLOSED
                    return
                at = len(PROTOCOL_HEADER)
                self._send_start()
            while not self.closed:
                found = next_frame(buffer, at, self.frame_max)
                if found is None:
                    break
                frame_type, channel, encoded, at = found
                self._frame(frame_type, channel, encoded)
        except ConnectionError as error:
            self._fail_connection(error)
        except Exception as error:  # never let a client crash the broker
            self._fail_connection(ConnectionError(541, f"{type(error).__name__}: {error}"))
        finally:
            del buffer[:at]

    def tick(self) -> None:
        """Heartbeats: send one when we have been quiet, drop a peer that has gone silent."""
        if self.state is not State.OPEN or not self.heartbeat:
            return
        now = self.clock()
        if now - self.last_received > 2 * self.heartbeat:
            self.lost()
            return
        if now - self.last_sent >= self.heartbeat / 2 and not self._out:
            self._out.append(HEARTBEAT_FRAME)

    def lost(self) -> None:
        """The socket is gone: clean up as if the client had closed (unacked go back)."""
        if self.core is not None:
            self.core.close()
        self.state = State.CLOSED

    # --- outbound work from the core -----------------------------------------------------------

    def render(self, items: list[tuple[int, Outbound]]) -> None:
        out = self._out
        frame_max = self.frame_max
        for number, item in items:
            if number in self.closing_channels:
                continue
            if type(item) is Deliver:
                out.append(
                    frame.marshal(
                        commands.Basic.Deliver(
                            item.consumer_tag,
                            item.delivery_tag,
                            item.redelivered,
                            item.exchange,
                            item.routing_key,
                        ),
                        number,
                    )
                )
                out.extend(content_frames(item.message, number, frame_max))
            elif type(item) is PublisherAck:
                out.append(frame.marshal(commands.Basic.Ack(item.delivery_tag, item.multiple), number))
            elif type(item) is Return:
                out.append(
                    frame.marshal(
                        commands.Basic.Return(
                            item.reply_code, item.reply_text, item.exchange, item.routing_key
                        ),
                        number,
                    )
                )
                out.extend(content_frames(item.message, number, frame_max))
            elif type(item) is PublisherNack:
                out.append(
                    frame.marshal(commands.Basic.Nack(item.delivery_tag, item.multiple, False), number)
                )
            elif type(item) is ConsumerCancelled and self.capabilities.get("consumer_cancel_notify"):
                out.append(frame.marshal(commands.Basic.Cancel(item.consumer_tag, True), number))

    def _flush_own_outbox(self) -> None:
        core = self.core
        if core is not None and core.outbox:
            self.broker.pending_output.pop(core, None)
            self.render(core.take_outbox())

    # --- frames --------------------------------------------------------------------------------

    def _send(self, method: Any, channel: int = 0) -> None:
        self._out.append(frame.marshal(method, channel))

    def _frame(self, frame_type: int, channel: int, encoded: bytes) -> None:
        if frame_type == FRAME_HEARTBEAT:
            if channel != 0:
                raise ConnectionError(UNEXPECTED_FRAME, f"heartbeat frame on channel {channel}")
            return
        if self.state is State.CLOSING:
            self._while_closing(frame_type, encoded)
            return
        if frame_type == FRAME_METHOD:
            self._method(channel, self._decode(encoded))
        elif frame_type == FRAME_CONTENT_HEADER:
            self._content_header(channel, self._decode(encoded))
        else:
            self._content_body(channel, self._decode(encoded))

    @staticmethod
    def _decode(encoded: bytes) -> Any:
        try:
            return frame.unmarshal(encoded)[2]
        except DECODE_ERRORS as error:
            # pamqp's messages carry object reprs; the peer gets a stable text instead
            raise ConnectionError(SYNTAX_ERROR, "cannot decode frame") from error

    def _while_closing(self, frame_type: int, encoded: bytes) -> None:
        """After connection.close we only listen for close-ok (or the client's own close)."""
        if frame_type != FRAME_METHOD:
            return
        method = self._decode(encoded)
        if isinstance(method, commands.Connection.CloseOk | commands.Connection.Close):
            if isinstance(method, commands.Connection.Close):
                self._send(commands.Connection.CloseOk())
            self.state = State.CLOSED

    # --- methods -------------------------------------------------------------------------------

    def _method(self, channel: int, method: Any) -> None:
        name = _method_name(method)
        is_connection_method = name.startswith("connection.")
        if self.state is not State.OPEN:
            self._handshake(channel, method, name)
            return
        if channel == 0:
            if not is_connection_method:
                raise ConnectionError(COMMAND_INVALID, f"{name} on channel 0", name)
            self._connection_method(method, name)
            return
        if is_connection_method:
            raise ConnectionError(COMMAND_INVALID, f"{name} on channel {channel}", name)
        if channel in self.closing_channels:
            if isinstance(method, commands.Channel.CloseOk):
                self.closing_channels.discard(channel)
            elif isinstance(method, commands.Channel.Close):
                self._send(commands.Channel.CloseOk(), channel)
            return  # everything else on a closing channel is discarded, as RabbitMQ does
        if channel in self.pending:
            raise ConnectionError(
                UNEXPECTED_FRAME,
                "expected content header for class 60, got non content header frame instead",
                name,
            )
        self._channel_method(channel, method, name)

    def _handshake(self, channel: int, method: Any, name: str) -> None:
        expected = {
            State.AWAIT_START_OK: commands.Connection.StartOk,
            State.AWAIT_TUNE_OK: commands.Connection.TuneOk,
            State.AWAIT_OPEN: commands.Connection.Open,
        }[self.state]
        if channel != 0 or not isinstance(method, expected):
            if isinstance(method, commands.Connection.Close):
                self._send(commands.Connection.CloseOk())
                self.state = State.CLOSED
                return
            raise ConnectionError(COMMAND_INVALID, f"expected {_method_name(expected)}, got {name}", name)
        if isinstance(method, commands.Connection.StartOk):
            self._start_ok(method)
        elif isinstance(method, commands.Connection.TuneOk):
            self._tune_ok(method)
        elif isinstance(method, commands.Connection.Open):
            self._open(method)

    def _send_start(self) -> None:
        self.state = State.AWAIT_START_OK
        self._send(
            commands.Connection.Start(
                0,
                9,
                {
                    "product": "rabbitsim",
                    "version": __version__,
                    "platform": f"Python {platform.python_version()}",
                    "information": "a simulated RabbitMQ for learning; see the rabbitsim README",
                    "cluster_name": "rabbitsim",
                    "capabilities": CAPABILITIES,  # type: ignore[dict-item]  # nested tables are fine
                },
                "PLAIN AMQPLAIN",
                "en_US",
            )
        )

    def _start_ok(self, method: commands.Connection.StartOk) -> None:
        self.client_properties = dict(method.client_properties or {})
        self.capabilities = dict(self.client_properties.get("capabilities") or {})
        username, password = self._credentials(method.mechanism, method.response)
        try:
            self.broker.authenticate(username, password, from_loopback=self.from_loopback)
        except ConnectionError as error:
            if self.capabilities.get("authentication_failure_close"):
                raise
            self.state = State.CLOSED  # older clients are just hung up on, as RabbitMQ does
            self.close_reason = error
            return
        self.user = username
        self.state = State.AWAIT_TUNE_OK
        self._send(commands.Connection.Tune(CHANNEL_MAX, FRAME_MAX, self.heartbeat))

    @staticmethod
    def _credentials(mechanism: str, response: str | bytes) -> tuple[str, str]:
        raw = response.encode("latin-1") if isinstance(response, str) else response
        if mechanism == "PLAIN":
            parts = raw.split(b"\x00")
            if len(parts) != 3:
                raise ConnectionError(SYNTAX_ERROR, "invalid PLAIN response")
            return parts[1].decode(), parts[2].decode()
        if mechanism == "AMQPLAIN":
            try:
                _size, table = decode.field_table(len(raw).to_bytes(4, "big") + raw)
            except Exception as error:
                raise ConnectionError(SYNTAX_ERROR, "invalid AMQPLAIN response") from error
            login, password = table.get("LOGIN", ""), table.get("PASSWORD", "")
            return _text(login if isinstance(login, str | bytes) else ""), _text(
                password if isinstance(password, str | bytes) else ""
            )
        raise ConnectionError(ACCESS_REFUSED, f"unsupported authentication mechanism '{mechanism}'")

    def _tune_ok(self, method: commands.Connection.TuneOk) -> None:
        if method.frame_max and method.frame_max < 4096:
            raise ConnectionError(NOT_ALLOWED, f"frame_max={method.frame_max} < 4096 min size")
        if method.frame_max > FRAME_MAX:
            raise ConnectionError(NOT_ALLOWED, f"frame_max={method.frame_max} > {FRAME_MAX} max size")
        self.frame_max = method.frame_max or FRAME_MAX
        self.channel_max = method.channel_max or CHANNEL_MAX
        self.heartbeat = method.heartbeat
        self.state = State.AWAIT_OPEN

    def _open(self, method: commands.Connection.Open) -> None:
        given = self.client_properties.get("connection_name")
        name = _text(given) if isinstance(given, str | bytes) and given else None
        self.core = self.broker.connect(method.virtual_host, self.user, name=self._unique(name))
        self.state = State.OPEN
        self._send(commands.Connection.OpenOk())

    def _unique(self, name: str | None) -> str | None:
        if name is None or name not in self.broker.connections:
            return name
        suffix = 2
        while f"{name} ({suffix})" in self.broker.connections:
            suffix += 1
        return f"{name} ({suffix})"

    def _connection_method(self, method: Any, name: str) -> None:
        if isinstance(method, commands.Connection.Close):
            self._send(commands.Connection.CloseOk())
            self.lost()
        elif isinstance(method, commands.Connection.UpdateSecret):
            self._send(commands.Connection.UpdateSecretOk())
        elif isinstance(method, commands.Connection.CloseOk):
            self.lost()
        else:
            raise ConnectionError(COMMAND_INVALID, f"{name} is not valid once the connection is open", name)

    def _fail_connection(self, error: ConnectionError) -> None:
        """Send connection.close with the error and wait for close-ok; the core is cleaned now."""
        if self.state in (State.CLOSED, State.CLOSING):
            self.state = State.CLOSED  # already closing: keep the first reason, stop listening
            return
        self.close_reason = error
        if self.core is not None:
            self.core.shut_down(error)
        self._send(
            commands.Connection.Close(error.reply_code, error.reply_text, error.class_id, error.method_id)
        )
        self.state = State.CLOSING if self.state is State.OPEN else State.CLOSED

    # --- channels ------------------------------------------------------------------------------

    def _channel_method(self, number: int, method: Any, name: str) -> None:
        core = self.core
        assert core is not None
        if isinstance(method, commands.Channel.Open):
            if number > self.channel_max:
                raise ConnectionError(
                    NOT_ALLOWED,
                    f"number of channels opened ({number}) has reached the "
                    f"negotiated channel_max ({self.channel_max})",
                    name,
                )
            core.open_channel(number)
            self._send(commands.Channel.OpenOk(), number)
            return
        channel = core.channel(number, name)
        if isinstance(method, commands.Basic.Publish):
            self.pending[number] = _Content(method)
            return
        handler = HANDLERS.get(type(method))
        try:
            if handler is None:
                raise ConnectionError(COMMAND_INVALID, f"unexpected method {name}", name)
            reply = handler(self, channel, method)
        except ChannelError as error:
            self._close_channel(number, error)
            return
        if reply is not None and not getattr(method, "nowait", False):
            self._send(reply, number)
        self._flush_own_outbox()

    def _close_channel(self, number: int, error: ChannelError) -> None:
        self.closing_channels.add(number)
        self.pending.pop(number, None)
        self._send(
            commands.Channel.Close(error.reply_code, error.reply_text, error.class_id, error.method_id),
            number,
        )
        self._flush_own_outbox()

    def _content_header(self, number: int, content_header: header.ContentHeader) -> None:
        if number == 0:
            raise ConnectionError(CHANNEL_ERROR, "unexpected content frame on channel 0")
        if number in self.closing_channels:
            return
        pending = self.pending.get(number)
        if pending is None or pending.expected >= 0:
            raise ConnectionError(UNEXPECTED_FRAME, "unexpected content header frame", "basic.publish")
        if content_header.class_id != 60:
            raise ConnectionError(UNEXPECTED_FRAME, f"content header for class {content_header.class_id}")
        pending.properties = content_header.properties
        pending.expected = content_header.body_size
        if pending.expected == 0:
            self._publish(number, pending)

    def _content_body(self, number: int, content_body: body.ContentBody) -> None:
        if number == 0:
            raise ConnectionError(CHANNEL_ERROR, "unexpected content frame on channel 0")
        if number in self.closing_channels:
            return
        pending = self.pending.get(number)
        if pending is None or pending.expected < 0:
            raise ConnectionError(UNEXPECTED_FRAME, "unexpected content body frame", "basic.publish")
        chunk = content_body.value
        pending.chunks.append(chunk)
        pending.received += len(chunk)
        if pending.received > pending.expected:
            raise ConnectionError(501, "content body longer than declared in its header")
        if pending.received == pending.expected:
            self._publish(number, pending)

    def _publish(self, number: int, pending: _Content) -> None:
        del self.pending[number]
        assert self.core is not None
        channel = self.core.channels.get(number)
        if channel is None:
            return
        method = pending.method
        payload = pending.chunks[0] if len(pending.chunks) == 1 else b"".join(pending.chunks)
        try:
            channel.basic_publish(
                method.exchange,
                method.routing_key,
                payload,
                pending.properties or commands.Basic.Properties(),
                mandatory=method.mandatory,
                immediate=method.immediate,
            )
        except ChannelError as error:
            self._close_channel(number, error)
            return
        self._flush_own_outbox()


# --- channel method handlers: one AMQP method each, returning the reply -----------------------


def _exchange_declare(self: AMQPConnection, ch: Channel, m: commands.Exchange.Declare) -> Any:
    ch.exchange_declare(
        m.exchange,
        m.exchange_type,
        passive=m.passive,
        durable=m.durable,
        auto_delete=m.auto_delete,
        internal=m.internal,
        arguments=m.arguments,
    )
    return commands.Exchange.DeclareOk()


def _exchange_delete(self: AMQPConnection, ch: Channel, m: commands.Exchange.Delete) -> Any:
    ch.exchange_delete(m.exchange, if_unused=m.if_unused)
    return commands.Exchange.DeleteOk()


def _exchange_bind(self: AMQPConnection, ch: Channel, m: commands.Exchange.Bind) -> Any:
    ch.exchange_bind(m.destination, m.source, m.routing_key, m.arguments)
    return commands.Exchange.BindOk()


def _exchange_unbind(self: AMQPConnection, ch: Channel, m: commands.Exchange.Unbind) -> Any:
    ch.exchange_unbind(m.destination, m.source, m.routing_key, m.arguments)
    return commands.Exchange.UnbindOk()


def _queue_declare(self: AMQPConnection, ch: Channel, m: commands.Queue.Declare) -> Any:
    ok = ch.queue_declare(
        m.queue,
        passive=m.passive,
        durable=m.durable,
        exclusive=m.exclusive,
        auto_delete=m.auto_delete,
        arguments=m.arguments,
    )
    return commands.Queue.DeclareOk(ok.queue, ok.message_count, ok.consumer_count)


def _queue_bind(self: AMQPConnection, ch: Channel, m: commands.Queue.Bind) -> Any:
    ch.queue_bind(m.queue, m.exchange, m.routing_key, m.arguments)
    return commands.Queue.BindOk()


def _queue_unbind(self: AMQPConnection, ch: Channel, m: commands.Queue.Unbind) -> Any:
    ch.queue_unbind(m.queue, m.exchange, m.routing_key, m.arguments)
    return commands.Queue.UnbindOk()


def _queue_purge(self: AMQPConnection, ch: Channel, m: commands.Queue.Purge) -> Any:
    return commands.Queue.PurgeOk(ch.queue_purge(m.queue))


def _queue_delete(self: AMQPConnection, ch: Channel, m: commands.Queue.Delete) -> Any:
    return commands.Queue.DeleteOk(ch.queue_delete(m.queue, if_unused=m.if_unused, if_empty=m.if_empty))


def _basic_qos(self: AMQPConnection, ch: Channel, m: commands.Basic.Qos) -> Any:
    ch.basic_qos(m.prefetch_count, global_qos=m.global_, prefetch_size=m.prefetch_size)
    return commands.Basic.QosOk()


def _basic_consume(self: AMQPConnection, ch: Channel, m: commands.Basic.Consume) -> Any:
    reply_first: list[bytes] = []
    tag = m.consumer_tag or self.broker.generate_name("amq.ctag")
    # consume-ok must reach the client before the first delivery, so send it before consuming
    if not m.nowait:
        if tag in ch.consumers:
            ch.basic_consume(m.queue, tag)  # raises the 530 RabbitMQ gives for a reused tag
        reply_first.append(frame.marshal(commands.Basic.ConsumeOk(tag), ch.number))
    ch.basic_consume(m.queue, tag, no_ack=m.no_ack, exclusive=m.exclusive, arguments=m.arguments)
    self._out.extend(reply_first)
    return None


def _basic_cancel(self: AMQPConnection, ch: Channel, m: commands.Basic.Cancel) -> Any:
    return commands.Basic.CancelOk(ch.basic_cancel(m.consumer_tag or ""))


def _basic_get(self: AMQPConnection, ch: Channel, m: commands.Basic.Get) -> Any:
    got = ch.basic_get(m.queue, no_ack=m.no_ack)
    if got is None:
        return commands.Basic.GetEmpty()
    self._send(
        commands.Basic.GetOk(
            got.delivery_tag, got.redelivered, got.exchange, got.routing_key, got.message_count
        ),
        ch.number,
    )
    self._out.extend(content_frames(got.message, ch.number, self.frame_max))
    return None


def _basic_ack(self: AMQPConnection, ch: Channel, m: commands.Basic.Ack) -> Any:
    ch.basic_ack(m.delivery_tag, m.multiple)


def _basic_nack(self: AMQPConnection, ch: Channel, m: commands.Basic.Nack) -> Any:
    ch.basic_nack(m.delivery_tag, m.multiple, m.requeue)


def _basic_reject(self: AMQPConnection, ch: Channel, m: commands.Basic.Reject) -> Any:
    ch.basic_reject(m.delivery_tag or 0, m.requeue)


def _basic_recover(self: AMQPConnection, ch: Channel, m: commands.Basic.Recover) -> Any:
    ch.basic_recover(m.requeue)
    return commands.Basic.RecoverOk()


def _basic_recover_async(self: AMQPConnection, ch: Channel, m: commands.Basic.RecoverAsync) -> Any:
    ch.basic_recover(m.requeue)


def _confirm_select(self: AMQPConnection, ch: Channel, m: commands.Confirm.Select) -> Any:
    ch.confirm_select()
    return commands.Confirm.SelectOk()


def _tx_select(self: AMQPConnection, ch: Channel, m: commands.Tx.Select) -> Any:
    ch.tx_select()
    return commands.Tx.SelectOk()


def _tx_commit(self: AMQPConnection, ch: Channel, m: commands.Tx.Commit) -> Any:
    ch.tx_commit()
    return commands.Tx.CommitOk()


def _tx_rollback(self: AMQPConnection, ch: Channel, m: commands.Tx.Rollback) -> Any:
    ch.tx_rollback()
    return commands.Tx.RollbackOk()


def _channel_flow(self: AMQPConnection, ch: Channel, m: commands.Channel.Flow) -> Any:
    return commands.Channel.FlowOk(ch.channel_flow(bool(m.active)))


def _channel_close(self: AMQPConnection, ch: Channel, m: commands.Channel.Close) -> Any:
    ch.close()
    return commands.Channel.CloseOk()


def _channel_close_ok(self: AMQPConnection, ch: Channel, m: commands.Channel.CloseOk) -> Any:
    return None


#: AMQP method class -> handler. Methods a client must never send are 503, as in RabbitMQ.
HANDLERS: dict[type, Handler] = {
    commands.Exchange.Declare: _exchange_declare,
    commands.Exchange.Delete: _exchange_delete,
    commands.Exchange.Bind: _exchange_bind,
    commands.Exchange.Unbind: _exchange_unbind,
    commands.Queue.Declare: _queue_declare,
    commands.Queue.Bind: _queue_bind,
    commands.Queue.Unbind: _queue_unbind,
    commands.Queue.Purge: _queue_purge,
    commands.Queue.Delete: _queue_delete,
    commands.Basic.Qos: _basic_qos,
    commands.Basic.Consume: _basic_consume,
    commands.Basic.Cancel: _basic_cancel,
    commands.Basic.Get: _basic_get,
    commands.Basic.Ack: _basic_ack,
    commands.Basic.Nack: _basic_nack,
    commands.Basic.Reject: _basic_reject,
    commands.Basic.Recover: _basic_recover,
    commands.Basic.RecoverAsync: _basic_recover_async,
    commands.Confirm.Select: _confirm_select,
    commands.Tx.Select: _tx_select,
    commands.Tx.Commit: _tx_commit,
    commands.Tx.Rollback: _tx_rollback,
    commands.Channel.Flow: _channel_flow,
    commands.Channel.Close: _channel_close,
    commands.Channel.CloseOk: _channel_close_ok,
}
