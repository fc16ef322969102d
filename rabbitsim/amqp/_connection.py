"""One client connection on the wire, as a sans-IO state machine.

Bytes in (`receive`), bytes out (`data_to_send`); the asyncio server only moves them. Frames
become calls on the broker core; after each call the core's output road is drained in order
(`router`), and what it holds for this connection (replies, deliveries, returns, confirms,
cancels) becomes frames through the `RENDERERS` table.
Bad input is answered as RabbitMQ's reader answers it (rabbit_reader, rabbit_command_assembler,
rabbit_channel), measured on 3.10.8 and 4.0.5: which error, in which state, with which ids,
or no word at all; and how many channels are open.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, Final, NoReturn

from pamqp import commands, constants, decode, frame

from rabbitsim._version import __version__
from rabbitsim.broker import (
    ACCESS_REFUSED,
    CHANNEL_ERROR,
    COMMAND_INVALID,
    FRAME_ERROR,
    INTERNAL_ERROR,
    METHOD_IDS,
    NOT_ALLOWED,
    SYNTAX_ERROR,
    UNEXPECTED_FRAME,
    AMQPError,
    Blocked,
    Broker,
    Channel,
    ChannelClosed,
    ChannelError,
    Connection,
    ConnectionClosed,
    ConnectionError,
    ConsumerCancelled,
    Deliver,
    GetOk,
    Outbound,
    Output,
    PublisherAck,
    PublisherNack,
    Reply,
    Return,
    TraceEvent,
    Unblocked,
    display_text,
)

from ._erlang import frame_octets
from ._fields import Unparseable
from ._frames import (
    ACCEPTED_HEADERS,
    CONTENT_HEADER,
    FRAME_BODY,
    FRAME_CONTENT_HEADER,
    FRAME_HEARTBEAT,
    FRAME_METHOD,
    FRAME_MIN_SIZE,
    HEARTBEAT_FRAME,
    MIN_PAYLOAD,
    PROTOCOL_HEADER,
    content_frames,
    next_frame,
)
from ._methods import CONTENT_METHODS, METHOD_NAMES, CannotDecode, decode_method, method_name
from ._pamqp_patches import BasicDeliver, BasicGetOk, BasicReturn, QueueDeclareOk
from ._properties import decode_properties

CHANNEL_MAX = 2047
FRAME_MAX = constants.FRAME_MAX_SIZE
HEARTBEAT = 60
#: How long RabbitMQ waits for close-ok after its connection.close (less if heartbeats are faster).
CLOSE_TIMEOUT = 30.0
#: After a frame it cannot delimit (too large, bad end octet) RabbitMQ stops reading, and hangs
#: up this much later.
SILENT_CLOSE_DELAY = 3.0
#: RabbitMQ's `handshake_timeout`: a socket that has not sent connection.open this long after it
#: was accepted is reset without a word, whatever stage it reached (measured on 3.10.8 and 4.0.5:
#: nothing sent, the header only, the header 6 s late, start-ok, tune-ok: a TCP reset at 10.0 s
#: after connect), so idle sockets cannot pile up.
HANDSHAKE_TIMEOUT = 10.0

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

EXPECTED_METHOD = "expected method frame, got non method frame instead"
EXPECTED_BODY = "expected content body, got non content body frame instead"


class State(Enum):
    AWAIT_HEADER = "await protocol header"
    AWAIT_START_OK = "await connection.start-ok"
    AWAIT_TUNE_OK = "await connection.tune-ok"
    AWAIT_OPEN = "await connection.open"
    OPEN = "open"
    CLOSING = "closing"  # we sent connection.close and wait for close-ok
    CLOSED = "closed"


#: RabbitMQ's names for the states, as in "unexpected method in connection state opening".
STATE_NAMES = {
    State.AWAIT_START_OK: "starting",
    State.AWAIT_TUNE_OK: "tuning",
    State.AWAIT_OPEN: "opening",
    State.OPEN: "running",
}
#: Until tune-ok RabbitMQ does not trust the peer: any error just closes the socket.
SILENT_STATES = frozenset((State.AWAIT_HEADER, State.AWAIT_START_OK, State.AWAIT_TUNE_OK))
#: Until connection.open the handshake timeout runs.
HANDSHAKE_STATES = SILENT_STATES | {State.AWAIT_OPEN}
#: tune-ok values RabbitMQ refuses: (field, lowest, highest); 0 ("no limit") is too high.
TUNE_LIMITS = (("frame_max", FRAME_MIN_SIZE, FRAME_MAX), ("channel_max", 1, CHANNEL_MAX))


class Phase(Enum):
    """A channel's life in RabbitMQ: it exists from its first frame, and counts towards
    channel_max until the client's channel.close or its close-ok to ours."""

    STARTING = "awaiting channel.open"
    OPEN = "open"
    CLOSING = "closing"  # we sent channel.close; only close / close-ok matter now


# The open state and phase as plain names, for the tests made on every frame: reading an enum
# member through its class costs ten times a global.
_RUNNING: Final = State.OPEN
_PHASE_OPEN: Final = Phase.OPEN


def _well_formed(frame_type: int, payload: bytes) -> bool:
    """Whether RabbitMQ can analyse the frame at all; if not, it is an unknown frame (501)."""
    if frame_type == FRAME_HEARTBEAT:
        return not payload
    minimum = MIN_PAYLOAD.get(frame_type)
    return minimum is not None and len(payload) >= minimum


def _unknown_frame(frame_type: int, payload: bytes) -> ConnectionError:
    return ConnectionError(FRAME_ERROR, f"{frame_octets(frame_type, payload)}: unknown_frame")


def _unexpected_frame(frame_type: int, payload: bytes) -> ConnectionError:
    return ConnectionError(UNEXPECTED_FRAME, frame_octets(frame_type, payload))


class InternalError(ConnectionError):
    """What RabbitMQ says when a frame crashes its reader or channel after the handshake
    (undecodable content properties, bad fields on channel 0): 541 and no explanation."""

    def __init__(self) -> None:
        super().__init__(INTERNAL_ERROR, "")
        self.reply_text = "INTERNAL_ERROR"


class _PropertiesCrash(Exception):
    pass


class _UndecodableProperties:
    """Stands in for content properties that do not decode. RabbitMQ decodes them only after
    its immediate, exchange and internal checks, and crashes at the first look; the core looks
    at them right after the same checks, so each error keeps RabbitMQ's order."""

    __slots__ = ()

    def __getattr__(self, name: str) -> NoReturn:
        raise _PropertiesCrash(name)


UNDECODABLE_PROPERTIES: Any = _UndecodableProperties()


class _Content:
    """A method with content (basic.publish) waiting for its content header and body frames."""

    __slots__ = ("chunks", "expected", "method", "properties", "received")

    def __init__(self, method: Any) -> None:
        self.method = method
        self.properties: Any = None
        self.expected = -1  # the body size, once the content header is in
        self.received = 0
        self.chunks: list[bytes] = []


class _Channel:
    """A channel number in use, as RabbitMQ's reader and channel process see it."""

    __slots__ = ("content", "core", "phase")

    def __init__(self) -> None:
        self.phase = Phase.STARTING
        self.core: Channel | None = None
        self.content: _Content | None = None


Handler = Callable[[Channel, Any], object]
Router = Callable[[list[Output]], None]
Listener = Callable[[TraceEvent], None]


def _nothing() -> None:
    return None


def _ignore(_value: object) -> None:
    return None


def route(
    items: Iterable[Output], listeners: Iterable[Listener] = (), keeper: Callable[[Any], None] | None = None
) -> None:
    """Send each item of the core's output where it goes: a connection's part becomes frames
    through the `AMQPConnection` attached to it (its `peer`), an event goes to every listener,
    what a restart keeps to the `keeper` (a store)."""
    for connection, number, item in items:
        if connection is None:
            if type(item) is TraceEvent:
                for listener in listeners:
                    listener(item)
            elif keeper is not None:
                keeper(item)
        elif connection.peer is not None:
            connection.peer.render(number, item)  # type: ignore[attr-defined]


class AMQPConnection:
    def __init__(
        self,
        broker: Broker,
        *,
        from_loopback: bool = True,
        to_loopback: bool = True,
        clock: Callable[[], float] | None = None,
        heartbeat: int = HEARTBEAT,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        peer: tuple[str, int] = ("", 0),
        local: tuple[str, int] = ("", 0),
    ) -> None:
        self.broker = broker
        self.from_loopback, self.to_loopback = from_loopback, to_loopback  # the peer's, our socket's
        self.peer, self.local = peer, local  # (host, port) of the client, and of our socket
        self.clock = clock or broker.clock
        self.state = State.AWAIT_HEADER
        self.core: Connection | None = None
        self.client_properties: dict[str, Any] = {}
        self.capabilities: dict[str, Any] = {}
        self.user = ""
        self.frame_max = FRAME_MIN_SIZE  # until tune-ok, as in RabbitMQ
        self.channel_max = CHANNEL_MAX
        self.heartbeat = heartbeat  # what we offer; the client's tune-ok decides
        self.channels: dict[int, _Channel] = {}
        self.close_reason: AMQPError | None = None
        self.close_deadline = 0.0  # while CLOSING: when we stop waiting for close-ok
        self._reading = True
        self._in = bytearray()
        self._out: list[bytes] = []
        #: where the core's output goes after each call: to every connection on the broker (and,
        #: under a server, to the event listeners too)
        self.router: Router = route
        #: called when rendering puts the first frames in an empty outbox, so that a server writes
        #: only the sockets that have something to send
        self.on_output: Callable[[], object] = _nothing
        self.reset = False  # hang up with a TCP reset rather than an orderly close
        #: blocked by a resource alarm: frames after the held publish's header wait in the buffer
        self.held = False
        #: called with True when the connection is blocked and with False when it may be read
        #: again, so that a server pauses and resumes reading its socket (then calls `receive(b"")`)
        self.on_hold: Callable[[bool], object] = _ignore
        now = self.clock()
        self.last_received = now
        self.last_sent = now
        self.handshake_deadline = now + handshake_timeout

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
        """Take bytes from the peer. Every complete frame is handled, errors included: how the
        stream is cut into chunks never changes the answer."""
        if self.state is State.CLOSED or not self._reading:
            return
        self.last_received = self.clock()
        buffer = self._in
        buffer += data
        at = 0
        try:
            if self.state is State.AWAIT_HEADER:
                if len(buffer) < len(PROTOCOL_HEADER):
                    return
                if bytes(buffer[: len(PROTOCOL_HEADER)]) not in ACCEPTED_HEADERS:
                    self._out.append(PROTOCOL_HEADER)  # tell the client what we speak, and hang up
                    self.state = State.CLOSED
                    return
                at = len(PROTOCOL_HEADER)
                self._send_start()
            while not self.closed and not self.held:
                try:
                    found = next_frame(buffer, at, self.frame_max)
                except ConnectionError as error:  # the stream cannot be cut into frames any more
                    self._fail(error)
                    self._stop_reading()
                    break
                if found is None:
                    break
                frame_type, channel, payload, at = found
                try:
                    self._frame(frame_type, channel, payload)
                except ConnectionError as error:
                    self._fail(error)
                except Unparseable as error:
                    self._hang_up(ConnectionError(FRAME_ERROR, str(error)))
                except Exception as error:  # never let a client crash the broker
                    self._fail(ConnectionError(INTERNAL_ERROR, f"{type(error).__name__}: {error}"))
        finally:
            del buffer[:at]

    def tick(self) -> None:
        """Timers: drop a peer that has not finished its handshake in time; stop waiting for a
        close-ok that does not come; send a heartbeat when we have been quiet; drop a peer that
        has gone silent."""
        now = self.clock()
        if self.state in HANDSHAKE_STATES:
            if now >= self.handshake_deadline:
                self._out.clear()
                self.reset = True
                self._hang_up(ConnectionError(FRAME_ERROR, "handshake_timeout"))
            return
        if self.state is State.CLOSING:
            if now >= self.close_deadline:
                self.lost()
            return
        if self.state is not State.OPEN or not self.heartbeat:
            return
        if now - self.last_received > 2 * self.heartbeat and not self.held:  # unread while blocked
            self.lost()
            return
        if now - self.last_sent >= self.heartbeat / 2 and not self._out:
            self._out.append(HEARTBEAT_FRAME)

    def lost(self) -> None:
        """The socket is gone: clean up as if the client had closed (unacked go back)."""
        if self.core is not None:
            self.core.close()
            self._drain()
        self.state = State.CLOSED

    # --- the core's output ------------------------------------------------------------------

    def _drain(self) -> None:
        broker = self.broker
        if broker.output:
            self.router(broker.take_output())

    def render(self, number: int, item: Outbound) -> None:
        """Frames for one item the core sends on channel `number`."""
        channel = self.channels.get(number)
        if channel is None or channel.phase is not _PHASE_OPEN or self.state is not _RUNNING:
            if number == 0 and self.state is _RUNNING:
                self._connection_item(item)
            return  # closed, or closing: RabbitMQ sends nothing more on it
        if not self._out:
            self.on_output()
        RENDERERS[type(item)](self, number, item)

    # --- resource alarms (the core's `_alarms` decides) -------------------------------------------

    def _hold(self) -> None:
        self.held = True
        self._drain()  # connection.blocked goes out before we stop
        self.on_hold(True)

    def _connection_item(self, item: Outbound) -> None:
        """What the core tells the connection itself, on channel 0: blocked and unblocked, sent
        only to clients that announced `connection.blocked` (others are held without a word);
        and a close the broker decided on (the core has shut the connection down already)."""
        if type(item) is ConnectionClosed:
            error = item.error
            self.close_reason = error
            if not self._out:
                self.on_output()
            self._send(
                commands.Connection.Close(error.reply_code, error.reply_text, error.class_id, error.method_id)
            )
            self.state = State.CLOSING
            self.close_deadline = self.clock() + CLOSE_TIMEOUT
            return
        if type(item) is Unblocked:
            if self.held:
                self.held = False
                self.last_received = self.clock()  # the silence while unread does not count
                self.on_hold(False)
            method: Any = commands.Connection.Unblocked()
        elif type(item) is Blocked:
            method = commands.Connection.Blocked(item.reason)
        else:
            return
        if self.capabilities.get("connection.blocked"):
            if not self._out:
                self.on_output()
            self._send(method)

    def _render_deliver(self, number: int, item: Deliver) -> None:
        out = self._out
        deliver = BasicDeliver(
            item.consumer_tag, item.delivery_tag, item.redelivered, item.exchange, item.routing_key
        )
        out.append(frame.marshal(deliver, number))
        out.extend(content_frames(item.message, number, self.frame_max))

    def _render_return(self, number: int, item: Return) -> None:
        self._send(BasicReturn(item.reply_code, item.reply_text, item.exchange, item.routing_key), number)
        self._out.extend(content_frames(item.message, number, self.frame_max))

    def _render_ack(self, number: int, item: PublisherAck) -> None:
        self._send(commands.Basic.Ack(item.delivery_tag, item.multiple), number)

    def _render_nack(self, number: int, item: PublisherNack) -> None:
        self._send(commands.Basic.Nack(item.delivery_tag, item.multiple, False), number)

    def _render_cancel(self, number: int, item: ConsumerCancelled) -> None:
        if self.capabilities.get("consumer_cancel_notify"):
            self._send(commands.Basic.Cancel(item.consumer_tag, True), number)

    def _render_channel_closed(self, number: int, item: ChannelClosed) -> None:
        """The core closed the channel on its own (a consumer timeout): channel.close, and the
        channel waits for close-ok as after any error."""
        channel = self.channels[number]
        channel.phase = Phase.CLOSING
        channel.core = None
        error = item.error
        self._send(
            commands.Channel.Close(error.reply_code, error.reply_text, error.class_id, error.method_id),
            number,
        )

    def _render_reply(self, number: int, item: Reply) -> None:
        value = item.value
        if item.method == "basic.get" and value is not None:
            got: GetOk = value
            ok = BasicGetOk(
                got.delivery_tag, got.redelivered, got.exchange, got.routing_key, got.message_count
            )
            self._send(ok, number)
            self._out.extend(content_frames(got.message, number, self.frame_max))
            return
        self._send(REPLIES[item.method](value), number)

    # --- errors --------------------------------------------------------------------------------

    def _fail(self, error: ConnectionError) -> None:
        """A hard error, reported as RabbitMQ reports it in this state: connection.close, then
        wait for close-ok; before tune-ok (or while closing already) hang up without a word."""
        if self.state is State.CLOSING or self.state in SILENT_STATES:
            self._hang_up(error)
            return
        self.close_reason = error
        if self.core is not None:
            self.core.shut_down(error)
            self._drain()
        self._send(
            commands.Connection.Close(error.reply_code, error.reply_text, error.class_id, error.method_id)
        )
        self.state = State.CLOSING
        timeout = self.heartbeat if 0 < self.heartbeat < CLOSE_TIMEOUT else CLOSE_TIMEOUT
        self.close_deadline = self.clock() + timeout

    def close_for(self, error: ConnectionError) -> None:
        """Close the connection from the broker's side (a shutdown): connection.close, as for a
        hard error."""
        self._fail(error)

    def _hang_up(self, error: ConnectionError) -> None:
        """Close the socket without a word (a reason already reported is kept)."""
        if self.close_reason is None:
            self.close_reason = error
        if self.core is not None:
            self.core.shut_down(self.close_reason)
            self._drain()
        self.state = State.CLOSED

    def _stop_reading(self) -> None:
        """After a frame it cannot delimit RabbitMQ reads nothing more, and hangs up later."""
        self._reading = False
        self._in.clear()
        if self.state is State.CLOSING:
            self.close_deadline = self.clock() + SILENT_CLOSE_DELAY

    # --- frames --------------------------------------------------------------------------------

    def _send(self, method: Any, channel: int = 0) -> None:
        self._out.append(frame.marshal(method, channel))

    def _frame(self, frame_type: int, number: int, payload: bytes) -> None:
        state = self.state
        if number and state is _RUNNING:
            self._channel_frame(frame_type, number, payload)
        elif state is State.CLOSING:
            self._closing_frame(frame_type, number, payload)
        elif number == 0:
            self._connection_frame(frame_type, payload)
        else:  # a channel before the connection is open
            raise _unexpected_frame(frame_type, payload)

    def _connection_frame(self, frame_type: int, payload: bytes) -> None:
        """Channel 0: connection methods and heartbeats; content here is unexpected."""
        if not _well_formed(frame_type, payload):
            raise _unknown_frame(frame_type, payload)
        if frame_type == FRAME_METHOD:
            method = self._decode_on_channel_0(payload)
            handler = CONNECTION_HANDLERS.get((self.state, type(method)))
            if handler is None:
                raise ConnectionError(
                    CHANNEL_ERROR,
                    f"unexpected method in connection state {STATE_NAMES[self.state]}",
                    METHOD_NAMES[type(method)],
                )
            handler(self, method)
        elif frame_type != FRAME_HEARTBEAT:
            raise _unexpected_frame(frame_type, payload)

    def _decode_on_channel_0(self, payload: bytes) -> Any:
        """RabbitMQ decodes connection methods outside its error handling: fields it cannot
        decode are a bare 541 once running and a hang-up before; bad UTF-8 names the method."""
        name = method_name(payload)
        if name is None:
            raise Unparseable("unknown method on channel 0")
        try:
            return decode_method(payload)
        except (CannotDecode, Unparseable) as error:
            if self.state is State.OPEN:
                raise InternalError() from error
            raise Unparseable(str(error)) from error
        except ConnectionError as error:
            error.blame(name)
            raise

    def _closing_frame(self, frame_type: int, number: int, payload: bytes) -> None:
        """After our connection.close RabbitMQ only listens for close-ok, or the client's close."""
        if number or frame_type != FRAME_METHOD or len(payload) < 4:
            return
        if method_name(payload) is None:
            raise Unparseable("unknown method on channel 0")
        try:
            method = decode_method(payload)
        except (ConnectionError, Unparseable):
            return  # measured: a method that does not decode is ignored too
        if type(method) is commands.Connection.Close:
            self._send(commands.Connection.CloseOk())
            self.state = State.CLOSED
        elif type(method) is commands.Connection.CloseOk:
            self.state = State.CLOSED

    # --- the handshake, and connection methods once open ----------------------------------------

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
        capabilities = self.client_properties.get("capabilities")
        self.capabilities = dict(capabilities) if isinstance(capabilities, dict) else {}
        username, password = self._credentials(method.mechanism, method.response)
        try:
            self.broker.authenticate(
                username, password, from_loopback=self.from_loopback, to_loopback=self.to_loopback
            )
        except ConnectionError as error:
            # a refused login is the one error RabbitMQ reports before tune-ok, and only to
            # clients that ask for it; others are just hung up on
            self.close_reason = error
            if self.capabilities.get("authentication_failure_close"):
                self._send(commands.Connection.Close(error.reply_code, error.reply_text, 0, 0))
            self.state = State.CLOSED
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
            return display_text(parts[1]), display_text(parts[2])  # not UTF-8: no such user, a refused login
        if mechanism == "AMQPLAIN":
            try:
                _size, table = decode.field_table(len(raw).to_bytes(4, "big") + raw)
            except Exception as error:
                raise ConnectionError(SYNTAX_ERROR, "invalid AMQPLAIN response") from error
            login, password = table.get("LOGIN", ""), table.get("PASSWORD", "")
            return display_text(login if isinstance(login, str | bytes) else ""), display_text(
                password if isinstance(password, str | bytes) else ""
            )
        raise ConnectionError(ACCESS_REFUSED, f"unsupported authentication mechanism '{mechanism}'")

    def _tune_ok(self, method: commands.Connection.TuneOk) -> None:
        for field, lowest, highest in TUNE_LIMITS:
            value = getattr(method, field)
            if value and value < lowest:
                bound = f"is lower than the minimum allowed value ({lowest})"
            elif not value or value > highest:
                bound = f"is higher than the maximum allowed value ({highest})"
            else:
                continue
            raise ConnectionError(NOT_ALLOWED, f"negotiated {field} = {value} {bound}", "connection.tune")
        self.frame_max = method.frame_max
        self.channel_max = method.channel_max
        self.heartbeat = method.heartbeat
        self.state = State.AWAIT_OPEN

    def _open(self, method: commands.Connection.Open) -> None:
        given = self.client_properties.get("connection_name")
        name = display_text(given) if isinstance(given, str | bytes) and given else None
        core = self.core = self.broker.connect(method.virtual_host, self.user, name=self._unique(name))
        core.peer = self
        core.client_properties = self.client_properties
        (core.peer_host, core.peer_port), (core.host, core.port) = self.peer, self.local
        core.channel_max, core.frame_max, core.heartbeat = self.channel_max, self.frame_max, self.heartbeat
        self.state = State.OPEN
        self._send(commands.Connection.OpenOk())

    def _unique(self, name: str | None) -> str | None:
        if name is None or name not in self.broker.connections:
            return name
        suffix = 2
        while f"{name} ({suffix})" in self.broker.connections:
            suffix += 1
        return f"{name} ({suffix})"

    def _close(self, method: commands.Connection.Close) -> None:
        self._send(commands.Connection.CloseOk())
        self.lost()

    def _update_secret(self, method: commands.Connection.UpdateSecret) -> None:
        self._send(commands.Connection.UpdateSecretOk())

    # --- channels ------------------------------------------------------------------------------

    def _channel_frame(self, frame_type: int, number: int, payload: bytes) -> None:
        """A frame on a channel once open: analysed as RabbitMQ's reader does, then assembled
        into a method (and its content) as rabbit_command_assembler does."""
        channel = self.channels.get(number)
        if frame_type == FRAME_BODY and channel is not None:  # the hot path: publishing
            content = channel.content
            if content is not None and content.expected >= 0:
                content.chunks.append(payload)
                content.received += len(payload)
                if content.received == content.expected:  # longer than declared: RabbitMQ waits on
                    self._content_done(channel, number, content)
                return
        if not _well_formed(frame_type, payload):
            raise _unknown_frame(frame_type, payload)
        if frame_type == FRAME_HEARTBEAT:
            raise _unexpected_frame(frame_type, payload)
        if frame_type == FRAME_METHOD and method_name(payload) is None:
            raise Unparseable("unknown method")
        if channel is None:
            channel = self._new_channel(number)
        content = channel.content
        if content is None:
            if frame_type != FRAME_METHOD:
                raise ConnectionError(UNEXPECTED_FRAME, EXPECTED_METHOD)
            method = decode_method(payload)
            if type(method) in CONTENT_METHODS:
                channel.content = _Content(method)
            else:
                self._channel_method(channel, number, method)
        elif content.expected < 0:
            self._content_header(channel, number, content, frame_type, payload)
        else:
            raise ConnectionError(UNEXPECTED_FRAME, EXPECTED_BODY, METHOD_NAMES[type(content.method)])

    def _new_channel(self, number: int) -> _Channel:
        """RabbitMQ counts channels in use, whatever their numbers, against channel_max."""
        if len(self.channels) >= self.channel_max:
            raise ConnectionError(
                NOT_ALLOWED,
                f"number of channels opened ({len(self.channels)}) has reached the "
                f"negotiated channel_max ({self.channel_max})",
            )
        channel = self.channels[number] = _Channel()
        return channel

    def _content_header(
        self, channel: _Channel, number: int, content: _Content, frame_type: int, payload: bytes
    ) -> None:
        name = METHOD_NAMES[type(content.method)]
        class_id = METHOD_IDS[name][0]
        got_class, weight, body_size = (
            CONTENT_HEADER.unpack_from(payload) if frame_type == FRAME_CONTENT_HEADER else (0, -1, 0)
        )
        if weight:  # RabbitMQ matches weight 0 only: anything else is not a content header to it
            got = "non content header frame"
        elif got_class != class_id:
            got = f"one for class {got_class}"
        else:
            got = ""
        if got:
            raise ConnectionError(
                UNEXPECTED_FRAME, f"expected content header for class {class_id}, got {got} instead", name
            )
        try:
            content.properties = decode_properties(payload[12:])
        except ValueError:
            content.properties = UNDECODABLE_PROPERTIES  # RabbitMQ finds out only when publishing
        content.expected = body_size
        if body_size == 0:
            self._content_done(channel, number, content)
        if self.broker.alarms.active and self.core is not None and self.broker.alarms.publishing(self.core):
            self._hold()  # RabbitMQ's reader blocks here, before the body: the message waits

    def _content_done(self, channel: _Channel, number: int, content: _Content) -> None:
        channel.content = None
        if channel.phase is _PHASE_OPEN and type(content.method) is commands.Basic.Publish:
            self._publish(channel, number, content)
        else:
            self._channel_method(channel, number, content.method)

    def _channel_method(self, channel: _Channel, number: int, method: Any) -> None:
        """A whole method, in the channel's phase: RabbitMQ's rabbit_channel:handle_method."""
        kind = type(method)
        if channel.phase is _PHASE_OPEN:
            handler = HANDLERS.get(kind)
            if handler is None:
                if kind is commands.Channel.Open:
                    raise ConnectionError(CHANNEL_ERROR, "second 'channel.open' seen", "channel.open")
                raise ConnectionError(COMMAND_INVALID, "unimplemented method", METHOD_NAMES[kind])
            assert channel.core is not None
            try:
                handler(channel.core, method)
            except ChannelError as error:
                self._close_channel(channel, number, error)
                return
            if kind is commands.Channel.Close:
                del self.channels[number]  # the number is free again, and no longer counts
                self._send(commands.Channel.CloseOk(), number)
            self._drain()
        elif channel.phase is Phase.STARTING:
            if kind is not commands.Channel.Open:
                raise ConnectionError(CHANNEL_ERROR, "expected 'channel.open'", METHOD_NAMES[kind])
            assert self.core is not None
            channel.core = self.core.open_channel(number)
            channel.phase = Phase.OPEN
            self._send(commands.Channel.OpenOk(), number)
        elif kind is commands.Channel.Open:  # closing: only open, close and close-ok count
            raise ConnectionError(CHANNEL_ERROR, "second 'channel.open' seen", "channel.open")
        elif kind is commands.Channel.Close:
            self._send(commands.Channel.CloseOk(), number)
        elif kind is commands.Channel.CloseOk:
            del self.channels[number]

    def _close_channel(self, channel: _Channel, number: int, error: ChannelError) -> None:
        channel.phase = Phase.CLOSING
        channel.core = None
        self._send(
            commands.Channel.Close(error.reply_code, error.reply_text, error.class_id, error.method_id),
            number,
        )
        self._drain()

    def _publish(self, channel: _Channel, number: int, content: _Content) -> None:
        core = channel.core
        assert core is not None
        method = content.method
        chunks = content.chunks
        payload = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            core.basic_publish(
                method.exchange,
                method.routing_key,
                payload,
                content.properties,
                mandatory=method.mandatory,
                immediate=method.immediate,
            )
        except ChannelError as error:
            self._close_channel(channel, number, error)
            return
        except _PropertiesCrash:
            raise InternalError() from None
        self._drain()


#: (state, connection method) -> handler; any other method on channel 0 is RabbitMQ's 504.
CONNECTION_HANDLERS: dict[tuple[State, type], Callable[[AMQPConnection, Any], None]] = {
    (State.AWAIT_START_OK, commands.Connection.StartOk): AMQPConnection._start_ok,
    (State.AWAIT_TUNE_OK, commands.Connection.TuneOk): AMQPConnection._tune_ok,
    (State.AWAIT_OPEN, commands.Connection.Open): AMQPConnection._open,
    (State.OPEN, commands.Connection.Close): AMQPConnection._close,
    (State.OPEN, commands.Connection.UpdateSecret): AMQPConnection._update_secret,
}


# --- channel methods: each turns a decoded method into the core's call; replies come back on
# the output road, and `REPLIES` makes their frames -----------------------------------------------

#: AMQP method class -> the core's call, on an open channel. Any other method is RabbitMQ's 503
#: "unimplemented method" (connection methods, replies, channel.close-ok unasked).
HANDLERS: dict[type, Handler] = {
    commands.Exchange.Declare: lambda ch, m: ch.exchange_declare(
        m.exchange,
        m.exchange_type,
        passive=m.passive,
        durable=m.durable,
        auto_delete=m.auto_delete,
        internal=m.internal,
        arguments=m.arguments,
        nowait=m.nowait,
    ),
    commands.Exchange.Delete: lambda ch, m: ch.exchange_delete(
        m.exchange, if_unused=m.if_unused, nowait=m.nowait
    ),
    commands.Exchange.Bind: lambda ch, m: ch.exchange_bind(
        m.destination, m.source, m.routing_key, m.arguments, nowait=m.nowait
    ),
    commands.Exchange.Unbind: lambda ch, m: ch.exchange_unbind(
        m.destination, m.source, m.routing_key, m.arguments, nowait=m.nowait
    ),
    commands.Queue.Declare: lambda ch, m: ch.queue_declare(
        m.queue,
        passive=m.passive,
        durable=m.durable,
        exclusive=m.exclusive,
        auto_delete=m.auto_delete,
        arguments=m.arguments,
        nowait=m.nowait,
    ),
    commands.Queue.Bind: lambda ch, m: ch.queue_bind(
        m.queue, m.exchange, m.routing_key, m.arguments, nowait=m.nowait
    ),
    commands.Queue.Unbind: lambda ch, m: ch.queue_unbind(m.queue, m.exchange, m.routing_key, m.arguments),
    commands.Queue.Purge: lambda ch, m: ch.queue_purge(m.queue, nowait=m.nowait),
    commands.Queue.Delete: lambda ch, m: ch.queue_delete(
        m.queue, if_unused=m.if_unused, if_empty=m.if_empty, nowait=m.nowait
    ),
    commands.Basic.Qos: lambda ch, m: ch.basic_qos(
        m.prefetch_count, global_qos=m.global_, prefetch_size=m.prefetch_size
    ),
    commands.Basic.Consume: lambda ch, m: ch.basic_consume(
        m.queue,
        m.consumer_tag,
        no_ack=m.no_ack,
        exclusive=m.exclusive,
        arguments=m.arguments,
        nowait=m.nowait,
    ),
    commands.Basic.Cancel: lambda ch, m: ch.basic_cancel(m.consumer_tag or "", nowait=m.nowait),
    commands.Basic.Get: lambda ch, m: ch.basic_get(m.queue, no_ack=m.no_ack),
    commands.Basic.Ack: lambda ch, m: ch.basic_ack(m.delivery_tag, m.multiple),
    commands.Basic.Nack: lambda ch, m: ch.basic_nack(m.delivery_tag, m.multiple, m.requeue),
    commands.Basic.Reject: lambda ch, m: ch.basic_reject(m.delivery_tag or 0, m.requeue),
    commands.Basic.Recover: lambda ch, m: ch.basic_recover(m.requeue),
    commands.Basic.RecoverAsync: lambda ch, m: ch.basic_recover_async(m.requeue),
    commands.Confirm.Select: lambda ch, m: ch.confirm_select(nowait=m.nowait),
    commands.Tx.Select: lambda ch, m: ch.tx_select(),
    commands.Tx.Commit: lambda ch, m: ch.tx_commit(),
    commands.Tx.Rollback: lambda ch, m: ch.tx_rollback(),
    commands.Channel.Flow: lambda ch, m: ch.channel_flow(bool(m.active)),
    commands.Channel.Close: lambda ch, m: ch.close(),  # close-ok is ours: we own channel numbers
}

#: The core's method name -> its reply, made from the value the core method returned
#: (basic.get-ok, which carries content, is `_render_reply`'s own).
REPLIES: dict[str, Callable[[Any], Any]] = {
    "exchange.declare": lambda _: commands.Exchange.DeclareOk(),
    "exchange.delete": lambda _: commands.Exchange.DeleteOk(),
    "exchange.bind": lambda _: commands.Exchange.BindOk(),
    "exchange.unbind": lambda _: commands.Exchange.UnbindOk(),
    "queue.declare": lambda ok: QueueDeclareOk(ok.queue, ok.message_count, ok.consumer_count),
    "queue.bind": lambda _: commands.Queue.BindOk(),
    "queue.unbind": lambda _: commands.Queue.UnbindOk(),
    "queue.purge": commands.Queue.PurgeOk,
    "queue.delete": commands.Queue.DeleteOk,
    "basic.qos": lambda _: commands.Basic.QosOk(),
    "basic.consume": commands.Basic.ConsumeOk,
    "basic.cancel": commands.Basic.CancelOk,
    "basic.get": lambda _: commands.Basic.GetEmpty(),
    "basic.recover": lambda _: commands.Basic.RecoverOk(),
    "confirm.select": lambda _: commands.Confirm.SelectOk(),
    "tx.select": lambda _: commands.Tx.SelectOk(),
    "tx.commit": lambda _: commands.Tx.CommitOk(),
    "tx.rollback": lambda _: commands.Tx.RollbackOk(),
    "channel.flow": commands.Channel.FlowOk,
}

#: What the core sends -> how this connection renders it.
RENDERERS: dict[type, Callable[[AMQPConnection, int, Any], None]] = {
    Deliver: AMQPConnection._render_deliver,
    PublisherAck: AMQPConnection._render_ack,
    Reply: AMQPConnection._render_reply,
    Return: AMQPConnection._render_return,
    PublisherNack: AMQPConnection._render_nack,
    ConsumerCancelled: AMQPConnection._render_cancel,
    ChannelClosed: AMQPConnection._render_channel_closed,
}
