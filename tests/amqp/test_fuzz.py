"""Fuzzing the wire: random bytes and mutated valid sessions must never crash the connection.

(a) The sans-IO `AMQPConnection`: whatever arrives, `receive` returns (no exception, no hang), and
the connection either waits for more or closes cleanly; a connection.close it sends carries one of
the protocol error codes RabbitMQ uses for bad input. 541 only as RabbitMQ sends it (a bare
"INTERNAL_ERROR", for content properties or connection-method fields it cannot decode), never for a
Python exception of ours. How the input is cut into chunks must not change what it answers.
(b) The TCP server: while a garbage connection is fed, a well-behaved pika connection on the same
broker keeps publishing and consuming.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import signal
import socket
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pamqp import body, commands, frame, header
from pamqp.header import ProtocolHeader

import rabbitsim
from rabbitsim.amqp import AMQPConnection, State
from rabbitsim.amqp._methods import decode_method
from rabbitsim.amqp._properties import decode_properties
from rabbitsim.backends import EmbeddedBroker
from rabbitsim.broker import REPLY_NAMES, Broker

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
#: connection.close codes acceptable for bad input (403 for a refused login; 541 see below).
ALLOWED_CLOSE_CODES = {403, 501, 502, 503, 504, 505, 530, 540, 541}
#: RabbitMQ's whole text when a frame crashes its reader (measured on 3.10.8 and 4.0.5); our own
#: crashes say "INTERNAL_ERROR - <exception>", and fail these tests.
RABBITMQ_INTERNAL_ERROR = "INTERNAL_ERROR"
#: channel.close codes a valid-looking but wrong method may earn.
ALLOWED_CHANNEL_CODES = {403, 404, 405, 406}
RECEIVE_SECONDS = 5.0


def _marshal(value: Any, channel: int = 0) -> bytes:
    return frame.marshal(value, channel)


HANDSHAKE = [
    ProtocolHeader().marshal(),
    _marshal(
        commands.Connection.StartOk(
            client_properties={"product": "fuzz", "capabilities": {"authentication_failure_close": True}},
            mechanism="PLAIN",
            response="\x00guest\x00guest",
            locale="en_US",
        )
    ),
    _marshal(commands.Connection.TuneOk(2047, 131072, 0)),
    _marshal(commands.Connection.Open("/")),
]
PROPERTIES = commands.Basic.Properties(content_type="text/plain", delivery_mode=2, headers={"k": "v", "n": 1})
SESSION = [
    *HANDSHAKE,
    _marshal(commands.Channel.Open(), 1),
    _marshal(commands.Queue.Declare(queue="fuzz", arguments={"x-max-length": 10}), 1),
    _marshal(commands.Exchange.Declare(exchange="fuzz.x", exchange_type="topic"), 1),
    _marshal(commands.Queue.Bind(queue="fuzz", exchange="fuzz.x", routing_key="a.#"), 1),
    _marshal(commands.Confirm.Select(), 1),
    _marshal(commands.Basic.Publish(exchange="fuzz.x", routing_key="a.b", mandatory=True), 1),
    _marshal(header.ContentHeader(0, 11, PROPERTIES), 1),
    _marshal(body.ContentBody(b"hello"), 1),
    _marshal(body.ContentBody(b" world"), 1),
    _marshal(commands.Basic.Qos(prefetch_count=5), 1),
    _marshal(commands.Basic.Consume(queue="fuzz", consumer_tag="c1"), 1),
    _marshal(commands.Basic.Ack(delivery_tag=1), 1),
    _marshal(commands.Channel.Open(), 2),
    _marshal(commands.Basic.Get(queue="fuzz"), 2),
    b"\x08\x00\x00\x00\x00\x00\x00\xce",
    _marshal(commands.Basic.Cancel(consumer_tag="c1"), 1),
    _marshal(commands.Channel.Close(200, "bye", 0, 0), 1),
    _marshal(commands.Connection.Close(200, "bye", 0, 0)),
]
#: frames worth splicing in anywhere: other channels, stray content, odd methods.
EXTRA_FRAMES = [
    _marshal(commands.Channel.Open(), 3),
    _marshal(commands.Channel.CloseOk(), 1),
    _marshal(commands.Basic.Publish(routing_key="fuzz", immediate=True), 1),
    _marshal(header.ContentHeader(0, 3, commands.Basic.Properties()), 2),
    _marshal(body.ContentBody(b"abc"), 1),
    _marshal(commands.Basic.Qos(prefetch_size=1), 1),
    _marshal(commands.Queue.Declare(queue="fuzz", passive=True), 0),
    _marshal(commands.Queue.Delete(queue="fuzz"), 1),
    _marshal(commands.Connection.TuneOk(2047, 131072, 0)),
    _marshal(commands.Basic.Nack(delivery_tag=0, multiple=True), 1),
    _marshal(commands.Tx.Select(), 1),
    b"\x08\x00\x01\x00\x00\x00\x00\xce",
]


class ReceiveTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail instead of hanging: SIGALRM interrupts a `receive` that never returns."""

    def expire(_signum: int, _frame: object) -> None:
        raise ReceiveTimeout(f"receive did not return within {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- strategies -----------------------------------------------------------------------------------


@st.composite
def mutated_sessions(draw: st.DrawFn) -> bytes:
    """A valid session's frames, spliced (dropped, repeated, reordered, strays added), then its bytes
    flipped, inserted, deleted or truncated."""
    frames = list(SESSION)
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["drop", "repeat", "swap", "extra"]))
        at = draw(st.integers(1, len(frames) - 1))
        if kind == "drop":
            del frames[at]
        elif kind == "repeat":
            frames.insert(at, frames[at])
        elif kind == "swap":
            other = draw(st.integers(1, len(frames) - 1))
            frames[at], frames[other] = frames[other], frames[at]
        else:
            frames.insert(at, draw(st.sampled_from(EXTRA_FRAMES)))
    data = bytearray(b"".join(frames))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0x01, 0x02, 0x03, 0x08, 0x7F, 0xCE, 0xFF]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))) :]
    return bytes(data)


@st.composite
def random_streams(draw: st.DrawFn) -> bytes:
    """Random bytes, after nothing, after the protocol header, or after a full handshake."""
    prefix = draw(st.sampled_from([b"", ProtocolHeader().marshal(), b"".join(HANDSHAKE)]))
    return prefix + draw(st.binary(max_size=400))


streams = st.one_of(mutated_sessions(), random_streams())


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, at = [], 0
    for size in sizes:
        if at >= len(data):
            break
        chunks.append(data[at : at + size])
        at += size
    if at < len(data):
        chunks.append(data[at:])
    return chunks


# --- checking what came back ----------------------------------------------------------------------


def decode_frames(data: bytes, *, complete: bool = True) -> list[tuple[int, Any]]:
    """Every frame the server sent, decoded by pamqp; a server answer is always well formed. A
    content header pamqp cannot decode is kept as its octets: its properties are the publisher's,
    relayed untouched as RabbitMQ relays them (a content type that is not UTF-8, say)."""
    if data.startswith(b"AMQP"):
        assert data == AMQP_HEADER, data
        return []
    frames: list[tuple[int, Any]] = []
    while data:
        try:
            used, channel, value = frame.unmarshal(data)
        except Exception:
            kind, channel, size = struct.unpack_from(">BHI", data) if len(data) >= 7 else (0, 0, 0)
            if kind == 2 and len(data) >= size + 8 and data[size + 7] == 0xCE:
                used, value = size + 8, data[: size + 8]
            else:
                assert not complete, f"server sent an undecodable frame: {data[:64]!r}"
                break
        frames.append((channel, value))
        data = data[used:]
    return frames


def check_answer(frames: list[tuple[int, Any]]) -> commands.Connection.Close | None:
    """The close codes are protocol errors, on the right channel; returns the connection.close."""
    close = None
    for index, (channel, value) in enumerate(frames):
        if isinstance(value, commands.Connection.Close) and value.reply_code == 541:
            assert value.reply_text == RABBITMQ_INTERNAL_ERROR, value.reply_text
        elif isinstance(value, commands.Connection.Close | commands.Channel.Close):
            # RabbitMQ's texts are "NAME - explanation"; never a Python repr with a memory address
            assert value.reply_text.startswith(f"{REPLY_NAMES[value.reply_code]} - "), value.reply_text
            assert not re.search(r" object at 0x[0-9a-f]+", value.reply_text), value.reply_text
        if isinstance(value, commands.Connection.Close):
            assert channel == 0
            assert value.reply_code in ALLOWED_CLOSE_CODES, (value.reply_code, value.reply_text)
            # after it only the close-ok to a client's own connection.close (both closed at once)
            for _channel, later in frames[index + 1 :]:
                assert isinstance(later, commands.Connection.CloseOk), f"{later!r} after connection.close"
            close = value
        elif isinstance(value, commands.Channel.Close):
            assert channel != 0
            assert value.reply_code in ALLOWED_CHANNEL_CODES, (value.reply_code, value.reply_text)
    return close


def feed(chunks: list[bytes]) -> tuple[AMQPConnection, bytes]:
    connection = AMQPConnection(Broker())
    out = []
    for chunk in chunks:
        with time_limit(RECEIVE_SECONDS):
            connection.receive(chunk)  # must never raise
        out.append(connection.data_to_send())
    return connection, b"".join(out)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=streams, sizes=st.lists(st.integers(1, 64), max_size=12))
def test_sans_io_survives_anything(data: bytes, sizes: list[int]) -> None:
    connection, out = feed(cut(data, sizes))
    close = check_answer(decode_frames(out))
    reason = connection.close_reason
    assert reason is None or reason.reply_code != 541 or reason.reply_text == RABBITMQ_INTERNAL_ERROR
    if close is not None:
        assert connection.state in (State.CLOSING, State.CLOSED)
        assert reason is not None
        assert (reason.reply_code, reason.reply_text) == (close.reply_code, close.reply_text)
    if out.startswith(b"AMQP"):
        assert connection.closed
    # the same bytes in one piece get the same answer: chunking must not matter
    whole, whole_out = feed([data])
    assert shape(whole_out) == shape(out)
    assert (whole.close_reason is None) == (reason is None)


def shape(data: bytes) -> list[Any]:
    """The frames the server sent, as sent, but closes by code and ids only (their texts are
    checked elsewhere)."""
    if data.startswith(b"AMQP"):
        return [data]
    frames: list[Any] = []
    while len(data) >= 8:
        size = int.from_bytes(data[3:7], "big") + 8
        value = frame.unmarshal(data[:size])[2] if data[0] == 1 else None
        if isinstance(value, commands.Connection.Close | commands.Channel.Close):
            frames.append((data[1:3], value.reply_code, value.class_id, value.method_id))
        else:
            frames.append(data[:size])
        data = data[size:]
    return frames


def test_the_valid_session_itself_is_clean() -> None:
    """The fuzzer's seed is a correct session: it ends with a clean close, and no error."""
    connection, out = feed([b"".join(SESSION)])
    frames = decode_frames(out)
    assert check_answer(frames) is None
    assert connection.close_reason is None
    assert connection.closed
    assert isinstance(frames[-1][1], commands.Connection.CloseOk)
    assert not any(isinstance(value, commands.Channel.Close) for _channel, value in frames)


# --- the adapter's field reader against pamqp -----------------------------------------------------
#
# The wire adapter reads method fields and content properties itself, with RabbitMQ's strictness
# (exact lengths, UTF-8 shortstrs), over pamqp's tables. Whatever pamqp writes, it reads back.

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
_table_values = st.one_of(
    st.booleans(), st.integers(-(2**31), 2**31 - 1), _text, st.none(), st.floats(allow_nan=False, width=32)
)
_tables = st.dictionaries(st.text(st.characters(codec="ascii"), max_size=12), _table_values, max_size=4)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "octet": st.integers(0, 255),
    "short": st.integers(0, 2**16 - 1),
    "long": st.integers(0, 2**32 - 1),
    "longlong": st.integers(0, 2**63 - 1),  # pamqp encodes signed; RabbitMQ and we read unsigned
    "bit": st.booleans(),
    "shortstr": _text,
    "longstr": _text,
    "table": _tables,
    "timestamp": st.datetimes(
        min_value=datetime.datetime(1970, 1, 2), max_value=datetime.datetime(2100, 1, 1)
    ).map(lambda moment: moment.replace(microsecond=0, tzinfo=datetime.UTC)),
}


def _unvalidated(cls: type) -> type:
    return type(cls.__name__, (cls,), {"validate": lambda _self: None})


@st.composite
def pamqp_methods(draw: st.DrawFn) -> Any:
    cls = draw(st.sampled_from(sorted(commands.INDEX_MAPPING.values(), key=lambda kind: kind.index)))
    method = _unvalidated(cls).__new__(_unvalidated(cls))
    for name in cls.__slots__:
        setattr(method, name, draw(FIELD_VALUES[cls.amqp_type(name)]))
    return method


@pytest.mark.filterwarnings("ignore:This command is deprecated:DeprecationWarning")  # pamqp's unmarshal
@settings(max_examples=300, deadline=None)
@given(method=pamqp_methods())
def test_method_fields_read_back_as_pamqp_wrote_them(method: Any) -> None:
    payload = frame.marshal(method, 1)[7:-1]
    decoded = decode_method(payload)
    assert type(decoded) is type(method).__mro__[1]
    for name in decoded.__slots__:
        assert getattr(decoded, name) == getattr(method, name), name
    pamqp_decoded = frame.unmarshal(frame.marshal(method, 1))[2]
    assert all(getattr(decoded, name) == getattr(pamqp_decoded, name) for name in decoded.__slots__)


@settings(max_examples=300, deadline=None)
@given(
    values=st.fixed_dictionaries(
        {},
        optional={
            name: FIELD_VALUES[commands.Basic.Properties.amqp_type(name)]
            for name in commands.Basic.Properties.__slots__
        },
    )
)
def test_properties_read_back_as_pamqp_wrote_them_and_keep_their_octets(values: dict[str, Any]) -> None:
    encoded = _unvalidated(commands.Basic.Properties)(**values).marshal()
    properties = decode_properties(encoded)
    assert properties.encoded == encoded
    for name in commands.Basic.Properties.__slots__:
        sent = values.get(name)
        assert getattr(properties, name) == (None if sent == "" else sent), name  # pamqp leaves "" out


# --- over TCP, next to a well-behaved client -------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedBroker]:
    handle = rabbitsim.start("sim", in_process=True)
    try:
        yield handle
    finally:
        handle.close()


class WellBehaved:
    """A pika connection that publishes and consumes one message at a time."""

    def __init__(self, handle: EmbeddedBroker) -> None:
        self.connection = pika.BlockingConnection(
            pika.ConnectionParameters(
                host=handle.host, port=handle.port, connection_attempts=1, socket_timeout=5, stack_timeout=5
            )
        )
        self.channel = self.connection.channel()
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.received: list[bytes] = []
        self.channel.basic_consume(self.queue, self._on_message)
        self.sent = 0

    def _on_message(self, channel: Any, method: Any, _properties: Any, payload: bytes) -> None:
        self.received.append(payload)
        channel.basic_ack(method.delivery_tag)

    def round_trip(self) -> None:
        self.sent += 1
        payload = f"message {self.sent} {uuid.uuid4().hex}".encode()
        self.channel.basic_publish("", self.queue, payload)
        deadline = time.monotonic() + 3.0
        while payload not in self.received and time.monotonic() < deadline:
            self.connection.process_data_events(time_limit=0.02)
        assert payload in self.received, "the well-behaved connection stopped being served"

    def close(self) -> None:
        self.connection.close()


@pytest.fixture(scope="module")
def well_behaved(server: EmbeddedBroker) -> Iterator[WellBehaved]:
    client = WellBehaved(server)
    try:
        yield client
    finally:
        client.close()


def _read_all(sock: socket.socket, seconds: float) -> tuple[bytes, bool]:
    """What the server sends within `seconds` (stopping early at its end of stream), and whether it ended."""
    data, deadline = b"", time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except OSError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=streams, sizes=st.lists(st.integers(1, 256), min_size=1, max_size=4))
def test_server_survives_garbage_next_to_a_good_client(
    server: EmbeddedBroker, well_behaved: WellBehaved, data: bytes, sizes: list[int]
) -> None:
    sock = socket.create_connection((server.host, server.port), timeout=3)
    try:
        for chunk in cut(data, sizes):
            with contextlib.suppress(OSError):  # the server may hang up on us mid-stream
                sock.sendall(chunk)
            well_behaved.round_trip()
        answer, ended = _read_all(sock, 0.3)
    finally:
        sock.close()
    frames = decode_frames(answer, complete=ended)
    check_answer(frames)
    well_behaved.round_trip()
