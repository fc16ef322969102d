"""Protocol errors on the wire, byte for byte: what RabbitMQ answers to broken frames, frames out of
order, methods in the wrong state or on the wrong channel, and bad logins.

Every expectation here was measured on RabbitMQ 3.10.8 and 4.0.5 with a raw socket (both answer
the same): the reply code, the reply text, class id / method id, and whether it is connection.close
on channel 0. After every hard error a new connection must still work. The tests drive the
embedded server over TCP with a tiny pamqp client, or the sans-IO `AMQPConnection` directly.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pamqp import body, commands, frame, header
from pamqp.header import ProtocolHeader
from pamqp.heartbeat import Heartbeat

import rabbitsim
from rabbitsim.amqp import AMQPConnection, State
from rabbitsim.amqp._erlang import frame_octets
from rabbitsim.backends import EmbeddedBroker
from rabbitsim.broker import Broker

from .conftest import connect, wait_until

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
HEARTBEAT = b"\x08\x00\x00\x00\x00\x00\x00\xce"
FRAME_MAX = 131072
LOGIN_REFUSED = (
    "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
    "For details see the broker logfile."
)
EXPECTED_METHOD = "UNEXPECTED_FRAME - expected method frame, got non method frame instead"
EXPECTED_HEADER = (
    "UNEXPECTED_FRAME - expected content header for class 60, got non content header frame instead"
)
EXPECTED_BODY = "UNEXPECTED_FRAME - expected content body, got non content body frame instead"


# --- a raw AMQP client ----------------------------------------------------------------------------


class RawClient:
    """Just enough of an AMQP client to send anything, and to read back frames or the socket's end."""

    def __init__(self, port: int, timeout: float = 3.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self.eof = False
        self.skip_heartbeats = True

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_frame(self, value: Any, channel: int = 0) -> None:
        self.send(frame.marshal(value, channel))

    def _read(self, timeout: float) -> bool:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except OSError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def read_frame(self, timeout: float = 3.0) -> tuple[int, Any] | None:
        """The next frame as (channel, pamqp object), or None on timeout or end of stream."""
        deadline = time.monotonic() + timeout
        while True:
            if self.buffer:
                try:
                    used, channel, value = frame.unmarshal(self.buffer)
                except Exception:  # an incomplete frame: read on
                    pass
                else:
                    self.buffer = self.buffer[used:]
                    if isinstance(value, Heartbeat) and self.skip_heartbeats:
                        continue
                    return channel, value
            remaining = deadline - time.monotonic()
            if self.eof or remaining <= 0 or not self._read(remaining):
                return None

    def expect(self, kind: type, channel: int | None = None, timeout: float = 3.0) -> Any:
        got = self.read_frame(timeout)
        assert got is not None, f"expected {kind.__name__}, got nothing (eof={self.eof})"
        number, value = got
        assert isinstance(value, kind), f"expected {kind.__name__}, got {value!r} on channel {number}"
        if channel is not None:
            assert number == channel
        return value

    def wait_closed(self, timeout: float = 3.0) -> bool:
        """True when the server ends the stream within `timeout`; what it still sent stays buffered."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._read(remaining)
        return True

    def start(
        self, *, user: str = "guest", password: str = "guest", capabilities: dict[str, Any] | None = None
    ) -> Any:
        """Protocol header and start-ok; returns the frame the server answers with (tune, or close)."""
        self.send(ProtocolHeader().marshal())
        self.expect(commands.Connection.Start, 0)
        if capabilities is None:
            capabilities = {"authentication_failure_close": True}
        self.send_frame(
            commands.Connection.StartOk(
                client_properties={"product": "rawclient", "capabilities": capabilities},
                mechanism="PLAIN",
                response=f"\x00{user}\x00{password}",
                locale="en_US",
            )
        )
        got = self.read_frame()
        return None if got is None else got[1]

    def handshake(
        self, *, channel_max: int = 2047, frame_max: int = FRAME_MAX, heartbeat: int = 0, open_: bool = True
    ) -> None:
        tune = self.start()
        assert isinstance(tune, commands.Connection.Tune), tune
        self.send_frame(commands.Connection.TuneOk(channel_max, frame_max, heartbeat))
        if open_:
            self.send_frame(commands.Connection.Open("/"))
            self.expect(commands.Connection.OpenOk, 0)

    def open_channel(self, number: int = 1) -> None:
        self.send_frame(commands.Channel.Open(), number)
        self.expect(commands.Channel.OpenOk, number)


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedBroker]:
    handle = rabbitsim.start("sim", in_process=True)
    try:
        yield handle
    finally:
        handle.close()


@pytest.fixture
def client(server: EmbeddedBroker) -> Iterator[RawClient]:
    raw = RawClient(server.port)
    try:
        yield raw
    finally:
        raw.close()


def assert_new_connection_works(port: int) -> None:
    """The server survived: a fresh connection can open a channel, declare, publish and get."""
    raw = RawClient(port)
    try:
        raw.handshake()
        raw.open_channel(1)
        raw.send_frame(commands.Queue.Declare(queue="", exclusive=True), 1)
        name = raw.expect(commands.Queue.DeclareOk, 1).queue
        publish(raw, 1, name, b"alive")
        raw.send_frame(commands.Basic.Get(queue=name, no_ack=True), 1)
        raw.expect(commands.Basic.GetOk, 1)
        raw.expect(header.ContentHeader, 1)
        assert raw.expect(body.ContentBody, 1).value == b"alive"
        raw.send_frame(commands.Connection.Close(200, "bye", 0, 0))
        raw.expect(commands.Connection.CloseOk, 0)
    finally:
        raw.close()


def publish(raw: RawClient, channel: int, routing_key: str, payload: bytes, **flags: bool) -> None:
    raw.send_frame(commands.Basic.Publish(exchange="", routing_key=routing_key, **flags), channel)
    raw.send_frame(header.ContentHeader(0, len(payload), commands.Basic.Properties()), channel)
    raw.send_frame(body.ContentBody(payload), channel)


def expect_connection_close(
    raw: RawClient,
    port: int,
    code: int,
    text: str | None,
    class_id: int,
    method_id: int,
    wait_closed: bool = True,
) -> None:
    """The server closes the connection on channel 0 with exactly this error; after close-ok the
    socket ends, and a new connection works."""
    got = raw.read_frame()
    assert got is not None, f"no connection.close (eof={raw.eof})"
    number, close = got
    assert isinstance(close, commands.Connection.Close), f"expected connection.close, got {close!r}"
    assert (number, close.reply_code, close.class_id, close.method_id) == (0, code, class_id, method_id), (
        close.reply_text
    )
    if text is not None:
        assert close.reply_text == text
    with contextlib.suppress(OSError):  # the server may already have hung up; RabbitMQ waits for close-ok
        raw.send_frame(commands.Connection.CloseOk())
    if wait_closed:
        assert raw.wait_closed(), "socket still open after connection.close-ok"
    assert_new_connection_works(port)


def method_frame(payload: bytes, channel: int = 1) -> bytes:
    return struct.pack(">BHI", 1, channel, len(payload)) + payload + b"\xce"


def declare_with_payload_size(size: int, channel: int = 1) -> bytes:
    """A queue.declare method frame whose payload is exactly `size` bytes (padded in its arguments)."""
    base = len(frame.marshal(commands.Queue.Declare(queue="padded", arguments={"x-pad": ""}), channel)) - 8
    encoded = frame.marshal(
        commands.Queue.Declare(queue="padded", arguments={"x-pad": "a" * (size - base)}), 1
    )
    assert len(encoded) - 8 == size
    return encoded


# --- the protocol header --------------------------------------------------------------------------


@pytest.mark.parametrize("greeting", [b"AMQP\x00\x00\x09\x00", b"HTTP/1.1", b"GET / HTTP/1.1\r\n\r\n"])
def test_bad_protocol_header_gets_ours_and_the_socket_closed(
    server: EmbeddedBroker, client: RawClient, greeting: bytes
) -> None:
    client.send(greeting)
    assert client.wait_closed()
    if greeting.startswith(b"AMQP"):
        assert client.buffer == AMQP_HEADER
    else:  # RabbitMQ 4 offers AMQP 1.0 (SASL) to a client that is not AMQP at all; 3.x offers 0-9-1
        assert client.buffer in (AMQP_HEADER, b"AMQP\x03\x01\x00\x00")
    assert_new_connection_works(server.port)


def test_bad_protocol_header_sans_io() -> None:
    connection = AMQPConnection(Broker())
    connection.receive(b"AMQP\x00\x00\x09\x00")
    assert connection.data_to_send() == AMQP_HEADER
    assert connection.closed
    connection.receive(ProtocolHeader().marshal())  # nothing more once closed
    assert connection.data_to_send() == b""


def test_the_0_9_protocol_header_is_taken_for_0_9_1() -> None:
    # RabbitMQ 3.10.8 and 4.0.5 both answer "AMQP 1 1 0 9" (AMQP 0-9) with connection.start.
    connection = AMQPConnection(Broker())
    connection.receive(b"AMQP\x01\x01\x00\x09")
    [(number, start)] = decode_all(connection.data_to_send())
    assert isinstance(start, commands.Connection.Start)
    assert (number, start.version_major, start.version_minor) == (0, 0, 9)
    assert connection.state is State.AWAIT_START_OK


# --- frame errors: 501 ---------------------------------------------------------------------------


def test_method_frame_larger_than_frame_max_is_501(server: EmbeddedBroker, client: RawClient) -> None:
    # RabbitMQ checks the size of every frame type (method frames included) before reading the
    # payload: frame_max plus 8 bytes of slack, reported as frame_max - 8.
    client.handshake()
    client.open_channel(1)
    client.send(declare_with_payload_size(FRAME_MAX + 1))
    expect_connection_close(
        client,
        server.port,
        501,
        "FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,131073,131064}",
        0,
        0,
        wait_closed=False,
    )


def test_frame_of_exactly_frame_max_is_accepted(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake()
    client.open_channel(1)
    client.send(declare_with_payload_size(FRAME_MAX))
    client.expect(commands.Queue.DeclareOk, 1)
    client.send_frame(commands.Queue.Delete(queue="padded"), 1)
    client.expect(commands.Queue.DeleteOk, 1)


def test_method_frame_larger_than_a_small_frame_max_is_501(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake(frame_max=4096)
    client.open_channel(1)
    client.send(declare_with_payload_size(5000))
    expect_connection_close(
        client,
        server.port,
        501,
        "FRAME_ERROR - type 1, all octets = <<>>: {frame_too_large,5000,4088}",
        0,
        0,
        wait_closed=False,
    )


def test_body_frame_larger_than_frame_max_is_501(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake(frame_max=4096)
    client.open_channel(1)
    publish(client, 1, "nowhere", b"x" * 5000)
    expect_connection_close(
        client,
        server.port,
        501,
        "FRAME_ERROR - type 3, all octets = <<>>: {frame_too_large,5000,4088}",
        0,
        0,
        wait_closed=False,
    )


def test_oversize_frame_is_refused_from_its_header_alone(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake()
    client.send(struct.pack(">BHI", 3, 1, 200000))  # no payload follows: the header is enough
    expect_connection_close(
        client,
        server.port,
        501,
        "FRAME_ERROR - type 3, all octets = <<>>: {frame_too_large,200000,131064}",
        0,
        0,
        wait_closed=False,
    )


def test_bad_frame_end_octet_is_501(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake()
    client.send(frame.marshal(commands.Channel.Open(), 1)[:-1] + b"\x00")
    expect_connection_close(
        client,
        server.port,
        501,
        "FRAME_ERROR - type 1, all octets = <<0,20,0,10,1,48>>: {invalid_frame_end_marker,0}",
        0,
        0,
        wait_closed=False,
    )


@pytest.mark.parametrize("frame_type", [4, 9, 65, 255])
def test_unknown_frame_type_is_501(server: EmbeddedBroker, client: RawClient, frame_type: int) -> None:
    client.handshake()
    client.send(struct.pack(">BHI", frame_type, 0, 0) + b"\xce")
    expect_connection_close(
        client,
        server.port,
        501,
        f"FRAME_ERROR - type {frame_type}, all octets = <<>>: unknown_frame",
        0,
        0,
        wait_closed=False,
    )


def test_heartbeat_frame_with_a_payload_is_501(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake()
    client.send(struct.pack(">BHI", 8, 0, 2) + b"ab\xce")
    expect_connection_close(
        client,
        server.port,
        501,
        'FRAME_ERROR - type 8, all octets = <<"ab">>: unknown_frame',
        0,
        0,
        wait_closed=False,
    )


# --- malformed method payloads -------------------------------------------------------------------

QUEUE_DECLARE_FIELDS = frame.marshal(commands.Queue.Declare(queue="q"), 1)[11:-1]  # after class and method id


@pytest.mark.parametrize(
    ("fields", "octets"),
    [
        (QUEUE_DECLARE_FIELDS[:2], "<<0,0>>"),  # truncated after the reserved short
        (QUEUE_DECLARE_FIELDS[:2] + b"\xffq", "<<0,0,255,113>>"),  # shortstr longer than the frame
        (QUEUE_DECLARE_FIELDS + b"\x00\x00\x00", "<<0,0,1,113,0,0,0,0,0,0,0,0>>"),  # trailing octets
    ],
    ids=["truncated", "shortstr-overrun", "trailing-octets"],
)
def test_undecodable_method_fields_are_501_naming_the_method(
    server: EmbeddedBroker, client: RawClient, fields: bytes, octets: str
) -> None:
    # RabbitMQ: FRAME_ERROR "cannot decode <<fields>>" with the class and method ids it did read.
    client.handshake()
    client.open_channel(1)
    client.send(method_frame(b"\x00\x32\x00\x0a" + fields))
    expect_connection_close(client, server.port, 501, f"FRAME_ERROR - cannot decode {octets}", 50, 10)


def test_method_frame_too_short_for_its_ids_is_501(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake()
    client.open_channel(1)
    client.send(method_frame(b"\x00"))
    expect_connection_close(
        client,
        server.port,
        501,
        "FRAME_ERROR - type 1, all octets = <<0>>: unknown_frame",
        0,
        0,
        wait_closed=False,
    )


@pytest.mark.parametrize(
    "payload",
    [
        b"\x00\x63\x00\x01",  # no class 99
        b"\x00\x32\x00\x63",  # no method 99 in class queue
        frame.marshal(commands.Queue.Declare(queue="q", arguments={"a": 1}), 1)[7:-1].replace(
            b"\x01ab", b"\x01aZ"
        ),
    ],
    ids=["unknown-class", "unknown-method", "bad-table-field-type"],
)
def test_unparseable_method_ends_the_connection(
    server: EmbeddedBroker, client: RawClient, payload: bytes
) -> None:
    # RabbitMQ drops the socket at once for these; a connection.close with a syntax or frame error
    # first is as good. Either way the connection ends and the server lives on.
    client.handshake()
    client.open_channel(1)
    client.send(method_frame(payload))
    got = client.read_frame()
    if got is not None:
        number, close = got
        assert isinstance(close, commands.Connection.Close)
        assert number == 0
        assert close.reply_code in (501, 502, 503, 540)
        client.send_frame(commands.Connection.CloseOk())
    assert client.wait_closed()
    assert_new_connection_works(server.port)


# --- methods in the wrong state or on the wrong channel: 503 / 504 / 505 ---------------------------


def test_channel_method_before_connection_open_is_504(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake(open_=False)
    client.send_frame(commands.Queue.Declare(queue="q"), 0)
    expect_connection_close(
        client, server.port, 504, "CHANNEL_ERROR - unexpected method in connection state opening", 50, 10
    )


def test_frame_on_a_channel_before_connection_open_is_505(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake(open_=False)
    client.send_frame(commands.Queue.Declare(queue="q"), 1)
    expect_connection_close(
        client,
        server.port,
        505,
        "UNEXPECTED_FRAME - type 1, all octets = <<0,50,0,10,0,0,1,113,0,0,0,0,0>>",
        0,
        0,
    )


def test_tune_ok_twice_is_504(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake(open_=False)
    client.send_frame(commands.Connection.TuneOk(2047, FRAME_MAX, 0))
    expect_connection_close(
        client, server.port, 504, "CHANNEL_ERROR - unexpected method in connection state opening", 10, 31
    )


@pytest.mark.parametrize(
    ("method", "ids"),
    [
        (commands.Connection.TuneOk(2047, FRAME_MAX, 0), (10, 31)),
        (
            commands.Connection.StartOk(
                client_properties={}, mechanism="PLAIN", response="\x00guest\x00guest"
            ),
            (10, 11),
        ),
        (commands.Connection.Open("/"), (10, 40)),
        (commands.Channel.Open(), (20, 10)),
        (commands.Queue.Declare(queue="q"), (50, 10)),
        (commands.Basic.Qos(prefetch_count=1), (60, 10)),
    ],
    ids=["tune-ok", "start-ok", "connection.open", "channel.open", "queue.declare", "basic.qos"],
)
def test_wrong_method_on_channel_0_once_running_is_504(
    server: EmbeddedBroker, client: RawClient, method: Any, ids: tuple[int, int]
) -> None:
    client.handshake()
    client.send_frame(method, 0)
    expect_connection_close(
        client, server.port, 504, "CHANNEL_ERROR - unexpected method in connection state running", *ids
    )


@pytest.mark.parametrize(
    ("method", "ids"),
    [
        (commands.Connection.Open("/"), (10, 40)),
        (commands.Connection.Close(200, "bye", 0, 0), (10, 50)),
        (commands.Connection.TuneOk(2047, FRAME_MAX, 0), (10, 31)),
    ],
    ids=["open", "close", "tune-ok"],
)
def test_connection_method_on_a_channel_is_503(
    server: EmbeddedBroker, client: RawClient, method: Any, ids: tuple[int, int]
) -> None:
    client.handshake()
    client.open_channel(1)
    client.send_frame(method, 1)
    expect_connection_close(client, server.port, 503, "COMMAND_INVALID - unimplemented method", *ids)


@pytest.mark.parametrize(
    ("method", "ids"),
    [
        (commands.Queue.Declare(queue="q"), (50, 10)),
        (commands.Basic.Qos(prefetch_count=1), (60, 10)),
        (commands.Channel.Close(200, "bye", 0, 0), (20, 40)),
    ],
    ids=["queue.declare", "basic.qos", "channel.close"],
)
def test_method_on_a_channel_never_opened_is_504(
    server: EmbeddedBroker, client: RawClient, method: Any, ids: tuple[int, int]
) -> None:
    client.handshake()
    client.open_channel(1)
    client.send_frame(method, 3)
    expect_connection_close(client, server.port, 504, "CHANNEL_ERROR - expected 'channel.open'", *ids)


def test_second_channel_open_is_504(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake()
    client.open_channel(1)
    client.send_frame(commands.Channel.Open(), 1)
    expect_connection_close(client, server.port, 504, "CHANNEL_ERROR - second 'channel.open' seen", 20, 10)


# --- content out of sequence: 505 ----------------------------------------------------------------

PROPERTIES = commands.Basic.Properties()


def _content_header(size: int = 3, class_id: int = 60) -> bytes:
    encoded = frame.marshal(header.ContentHeader(0, size, PROPERTIES), 1)
    return encoded[:7] + class_id.to_bytes(2, "big") + encoded[9:]


@pytest.mark.parametrize(
    ("frames", "text", "ids"),
    [
        ([_content_header()], EXPECTED_METHOD, (0, 0)),
        ([frame.marshal(body.ContentBody(b"abc"), 1)], EXPECTED_METHOD, (0, 0)),
        (
            [
                frame.marshal(commands.Basic.Publish(routing_key="q"), 1),
                frame.marshal(body.ContentBody(b"abc"), 1),
            ],
            EXPECTED_HEADER,
            (60, 40),
        ),
        (
            [
                frame.marshal(commands.Basic.Publish(routing_key="q"), 1),
                frame.marshal(commands.Basic.Qos(prefetch_count=1), 1),
            ],
            EXPECTED_HEADER,
            (60, 40),
        ),
        (
            [
                frame.marshal(commands.Basic.Publish(routing_key="q"), 1),
                _content_header(),
                frame.marshal(commands.Basic.Qos(prefetch_count=1), 1),
            ],
            EXPECTED_BODY,
            (60, 40),
        ),
        (
            [
                frame.marshal(commands.Basic.Publish(routing_key="q"), 1),
                _content_header(),
                _content_header(),
            ],
            EXPECTED_BODY,
            (60, 40),
        ),
        (
            [frame.marshal(commands.Basic.Publish(routing_key="q"), 1), _content_header(class_id=50)],
            "UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead",
            (60, 40),
        ),
    ],
    ids=[
        "header-without-publish",
        "body-without-publish",
        "body-without-header",
        "method-instead-of-header",
        "method-instead-of-body",
        "second-header",
        "header-of-another-class",
    ],
)
def test_content_out_of_sequence_is_505(
    server: EmbeddedBroker, client: RawClient, frames: list[bytes], text: str, ids: tuple[int, int]
) -> None:
    client.handshake()
    client.open_channel(1)
    client.send(b"".join(frames))
    expect_connection_close(client, server.port, 505, text, *ids)


def test_content_header_on_a_channel_never_opened_is_505(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake()
    client.send(_content_header()[:1] + b"\x00\x05" + _content_header()[3:])
    expect_connection_close(client, server.port, 505, EXPECTED_METHOD, 0, 0)


def test_content_header_on_channel_0_is_505(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake()
    client.send_frame(header.ContentHeader(0, 3, PROPERTIES), 0)
    expect_connection_close(
        client,
        server.port,
        505,
        "UNEXPECTED_FRAME - type 2, all octets = <<0,60,0,0,0,0,0,0,0,0,0,3,0,0>>",
        0,
        0,
    )


def test_heartbeat_on_a_channel_is_505(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake()
    client.open_channel(1)
    client.send(b"\x08\x00\x01\x00\x00\x00\x00\xce")
    expect_connection_close(client, server.port, 505, "UNEXPECTED_FRAME - type 8, all octets = <<>>", 0, 0)


def test_heartbeat_on_a_channel_is_505_sans_io() -> None:
    connection = open_sans_io()
    connection.receive(b"\x08\x00\x01\x00\x00\x00\x00\xce")
    (number, close), *_ = decode_all(connection.data_to_send())
    assert isinstance(close, commands.Connection.Close)
    assert (number, close.reply_code) == (0, 505)
    assert connection.state is State.CLOSING


# --- channel_max: 530 ----------------------------------------------------------------------------


def test_opening_more_channels_than_channel_max_is_530(server: EmbeddedBroker, client: RawClient) -> None:
    # RabbitMQ counts the channels open, not the channel number.
    client.handshake(channel_max=2)
    client.open_channel(7)
    client.open_channel(1)
    client.send_frame(commands.Channel.Open(), 2)
    expect_connection_close(
        client,
        server.port,
        530,
        "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max (2)",
        0,
        0,
    )


def test_a_channel_number_above_channel_max_alone_is_allowed(
    server: EmbeddedBroker, client: RawClient
) -> None:
    client.handshake(channel_max=10)
    client.open_channel(11)
    client.open_channel(2048)
    client.send_frame(commands.Queue.Declare(queue="", exclusive=True), 2048)
    client.expect(commands.Queue.DeclareOk, 2048)


@pytest.mark.parametrize(
    ("channel_max", "frame_max"),
    [(0, FRAME_MAX), (65535, FRAME_MAX), (2047, 100)],
    ids=["cm0", "cm65535", "fm100"],
)
def test_tune_ok_out_of_bounds_closes_the_socket_silently(
    server: EmbeddedBroker, client: RawClient, channel_max: int, frame_max: int
) -> None:
    # channel_max 0 means "no limit", above RabbitMQ's 2047; errors before the connection is tuned
    # are not reported, the socket is simply closed.
    client.handshake(channel_max=channel_max, frame_max=frame_max, open_=False)
    with contextlib.suppress(OSError):
        client.send_frame(commands.Connection.Open("/"))
    assert client.read_frame(timeout=5.0) is None
    assert client.eof
    assert_new_connection_works(server.port)


# --- not implemented: 540 ------------------------------------------------------------------------


def test_publish_with_immediate_is_540(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake()
    client.open_channel(1)
    publish(client, 1, "nowhere", b"now!", immediate=True)
    expect_connection_close(client, server.port, 540, "NOT_IMPLEMENTED - immediate=true", 60, 40)


def test_qos_with_prefetch_size_is_540(server: EmbeddedBroker, client: RawClient) -> None:
    client.handshake()
    client.open_channel(1)
    client.send_frame(commands.Basic.Qos(prefetch_size=10), 1)
    expect_connection_close(client, server.port, 540, "NOT_IMPLEMENTED - prefetch_size!=0 (10)", 60, 10)


# --- login ---------------------------------------------------------------------------------------


def test_wrong_password_with_authentication_failure_close_is_403(
    server: EmbeddedBroker, client: RawClient
) -> None:
    answer = client.start(password="wrong")
    assert isinstance(answer, commands.Connection.Close)
    assert (answer.reply_code, answer.reply_text, answer.class_id, answer.method_id) == (
        403,
        LOGIN_REFUSED,
        0,
        0,
    )
    assert client.wait_closed()
    assert_new_connection_works(server.port)


def test_wrong_password_without_the_capability_just_closes(server: EmbeddedBroker, client: RawClient) -> None:
    assert client.start(password="wrong", capabilities={}) is None
    assert client.eof
    assert client.buffer == b""
    assert_new_connection_works(server.port)


@pytest.mark.parametrize(
    ("mechanism", "response"), [("PLAIN", "no-nul-bytes"), ("NOSUCH", "\x00guest\x00guest")]
)
def test_bad_sasl_before_tuning_closes_the_socket_silently(
    server: EmbeddedBroker, client: RawClient, mechanism: str, response: str
) -> None:
    client.send(ProtocolHeader().marshal())
    client.expect(commands.Connection.Start, 0)
    client.send_frame(
        commands.Connection.StartOk(
            client_properties={"capabilities": {"authentication_failure_close": True}},
            mechanism=mechanism,
            response=response,
            locale="en_US",
        )
    )
    assert client.read_frame(timeout=5.0) is None
    assert client.eof
    assert_new_connection_works(server.port)


# --- a channel the server closed ----------------------------------------------------------------


def _soft_error(client: RawClient) -> None:
    client.handshake()
    client.open_channel(1)
    client.send_frame(commands.Queue.Declare(queue="no-such-queue-here", passive=True), 1)
    close = client.expect(commands.Channel.Close, 1)
    assert (close.reply_code, close.class_id, close.method_id) == (404, 50, 10)
    assert close.reply_text == "NOT_FOUND - no queue 'no-such-queue-here' in vhost '/'"


def test_frames_on_a_closing_channel_are_ignored_until_close_ok(client: RawClient) -> None:
    _soft_error(client)
    client.send_frame(commands.Queue.Declare(queue="", exclusive=True), 1)
    publish(client, 1, "nowhere", b"dropped")
    client.send_frame(commands.Basic.Qos(prefetch_size=5), 1)  # would be 540 on an open channel
    publish(client, 1, "nowhere", b"dropped", immediate=True)  # would be 540 too
    client.send_frame(commands.Queue.Declare(queue="no-such-queue-here", passive=True), 1)
    client.send_frame(commands.Connection.Open("/"), 1)  # would be 503
    assert client.read_frame(timeout=0.5) is None
    assert not client.eof
    client.send_frame(commands.Channel.CloseOk(), 1)
    client.open_channel(1)
    client.send_frame(commands.Queue.Declare(queue="", exclusive=True), 1)
    client.expect(commands.Queue.DeclareOk, 1)


def test_channel_close_on_a_closing_channel_is_answered(client: RawClient) -> None:
    _soft_error(client)
    client.send_frame(commands.Channel.Close(200, "me too", 0, 0), 1)
    client.expect(commands.Channel.CloseOk, 1)
    client.send_frame(commands.Channel.CloseOk(), 1)
    client.open_channel(1)


def test_channel_open_on_a_closing_channel_is_504(server: EmbeddedBroker, client: RawClient) -> None:
    _soft_error(client)
    client.send_frame(commands.Channel.Open(), 1)
    expect_connection_close(client, server.port, 504, "CHANNEL_ERROR - second 'channel.open' seen", 20, 10)


def test_content_out_of_sequence_on_a_closing_channel_is_still_505(
    server: EmbeddedBroker, client: RawClient
) -> None:
    _soft_error(client)
    client.send(_content_header())
    expect_connection_close(client, server.port, 505, EXPECTED_METHOD, 0, 0)


def test_other_channels_go_on_while_one_is_closing(client: RawClient) -> None:
    _soft_error(client)
    client.open_channel(2)
    client.send_frame(commands.Queue.Declare(queue="", exclusive=True), 2)
    client.expect(commands.Queue.DeclareOk, 2)


# --- more of RabbitMQ's answers, in one table -----------------------------------------------------
#
# Each row: how far the connection gets first, the raw frames sent next, and what RabbitMQ 3.10.8 and
# 4.0.5 answered (measured with this client): a connection.close, a channel.close, a reply, a socket
# closed without a word, or nothing at all.


def raw_frame(frame_type: int, channel: int, payload: bytes) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + b"\xce"


def publish_fields(exchange: bytes = b"", routing_key: bytes = b"q", bits: int = 0) -> bytes:
    """basic.publish's payload, written out so that it can carry what pamqp would not encode."""
    return (
        b"\x00\x3c\x00\x28\x00\x00"
        + bytes([len(exchange)])
        + exchange
        + bytes([len(routing_key)])
        + routing_key
        + bytes([bits])
    )


def content_header(size: int = 3, channel: int = 1, weight: int = 0, props: bytes = b"\x00\x00") -> bytes:
    return raw_frame(2, channel, struct.pack(">HHQ", 60, weight, size) + props)


def declare_fields(queue: bytes) -> bytes:
    """queue.declare's payload for an exclusive queue, whatever octets its name is."""
    return b"\x00\x32\x00\x0a\x00\x00" + bytes([len(queue)]) + queue + b"\x04\x00\x00\x00\x00"


PUBLISH = raw_frame(1, 1, publish_fields())
BODY = raw_frame(3, 1, b"abc")
QUEUE_DECLARE_9 = frame.marshal(commands.Queue.Declare(queue="q"), 9)
CLOSE = frame.marshal(commands.Connection.Close(200, "bye", 0, 0), 0)
CLOSE_FIELDS = CLOSE[7:-1]
QOS = frame.marshal(commands.Basic.Qos(prefetch_count=1), 1)
START_OK_BAD_TABLE = raw_frame(
    1, 0, b"\x00\x0a\x00\x0b\x00\x00\x00\x03\x01aZ\x05PLAIN\x00\x00\x00\x00\x05en_US"
)
UNIMPLEMENTED = "COMMAND_INVALID - unimplemented method"
MALFORMED_UTF8 = "FRAME_ERROR - Malformed UTF-8 in shortstr"
SILENT = ("silent",)  # the socket closes without a word
NOTHING = ("nothing",)  # no answer, and the connection stays


def close(code: int, text: str, class_id: int = 0, method_id: int = 0) -> tuple[Any, ...]:
    return ("close", code, text, class_id, method_id)


def reply(kind: type, channel: int = 1) -> tuple[Any, ...]:
    return ("reply", kind, channel)


def unexpected_method(state: str, class_id: int, method_id: int) -> tuple[Any, ...]:
    return close(504, f"CHANNEL_ERROR - unexpected method in connection state {state}", class_id, method_id)


def too_many_channels(count: int) -> tuple[Any, ...]:
    text = f"number of channels opened ({count}) has reached the negotiated channel_max ({count})"
    return close(530, f"NOT_ALLOWED - {text}")


def unknown_frame(description: str) -> tuple[Any, ...]:
    return close(501, f"FRAME_ERROR - {description}: unknown_frame")


def _closing_connection(client: RawClient) -> None:
    """A connection the server is closing (504 sent, close-ok not yet given)."""
    client.handshake()
    client.send(QUEUE_DECLARE_9)
    assert client.expect(commands.Connection.Close, 0).reply_code == 504


def _at_channel_max_2_with_one_closing(client: RawClient) -> None:
    client.handshake(channel_max=2)
    client.open_channel(1)
    client.send_frame(commands.Queue.Declare(queue="no-such-queue-here", passive=True), 1)
    client.expect(commands.Channel.Close, 1)
    client.open_channel(2)


def _running(client: RawClient, channel_max: int = 2047) -> None:
    client.handshake(channel_max=channel_max)
    client.open_channel(1)


SETUPS: dict[str, Callable[[RawClient], None]] = {
    "running": _running,
    "opening": lambda client: client.handshake(open_=False),
    "closing-channel": lambda client: _soft_error(client),
    "closing-connection": _closing_connection,
    "channel-max-1": lambda client: _running(client, channel_max=1),
    "channel-max-2-one-closing": _at_channel_max_2_with_one_closing,
}
DELIVER = frame.marshal(commands.Basic.Deliver("t", 1, False, "", "q"), 1)
BAD_PROPERTIES = content_header(props=b"\x80\x00")  # content-type flagged, but not there
TRAILING_PROPERTIES = content_header(props=b"\x00\x00\x05ab")
OPEN_TRAILING = raw_frame(1, 0, frame.marshal(commands.Connection.Open("/"), 0)[7:-1] + b"\x00")
UNKNOWN_METHOD = raw_frame(1, 0, b"\x00\x0a\x00\x63")
WRAPPED = "<<150,150,150,150,150,150,150,150,150,150,150,150,\n" + " " * 28 + "150,150,150,150>>"

#: (id, setup, frames sent next, answer)
ANSWERS: list[tuple[str, str, list[bytes], tuple[Any, ...]]] = [
    # shortstrs must be UTF-8 (not in basic.publish); on a channel the error names no method
    ("declare-utf8", "running", [raw_frame(1, 1, declare_fields(b"\xff\xfe"))], close(501, MALFORMED_UTF8)),
    (
        "open-utf8",
        "opening",
        [raw_frame(1, 0, b"\x00\x0a\x00\x28\x02\xff\xfe\x00\x00")],
        close(501, MALFORMED_UTF8, 10, 40),
    ),
    (
        "close-utf8",
        "running",
        [raw_frame(1, 1, b"\x00\x14\x00\x28\x00\xc8\x02\xff\xfe" + bytes(4))],
        close(501, MALFORMED_UTF8),
    ),
    # names pamqp's own pattern refuses, which RabbitMQ takes
    ("queue-fu{z", "running", [raw_frame(1, 1, declare_fields(b"fu{z"))], reply(commands.Queue.DeclareOk)),
    ("queue-255", "running", [raw_frame(1, 1, declare_fields(b"a" * 255))], reply(commands.Queue.DeclareOk)),
    (
        "queue-utf8",
        "running",
        [raw_frame(1, 1, declare_fields("é".encode()))],
        reply(commands.Queue.DeclareOk),
    ),
    (
        "bits-all-set",
        "running",
        [raw_frame(1, 1, b"\x00\x32\x00\x0a\x00\x00\x00\xe4" + bytes(4))],
        reply(commands.Queue.DeclareOk),
    ),
    # fields that do not fill the frame exactly
    (
        "publish-trailing",
        "running",
        [raw_frame(1, 1, publish_fields() + b"\x00")],
        close(501, "FRAME_ERROR - cannot decode <<0,0,0,1,113,0,0>>", 60, 40),
    ),
    (
        "ack-trailing",
        "running",
        [raw_frame(1, 1, b"\x00\x3c\x00\x50" + bytes(10))],
        close(501, f"FRAME_ERROR - cannot decode <<{','.join('0' * 10)}>>", 60, 80),
    ),
    # connection methods RabbitMQ cannot decode crash its reader: a bare 541 once running, else silence
    ("close-trailing", "running", [raw_frame(1, 0, CLOSE_FIELDS + b"\x00")], close(541, "INTERNAL_ERROR")),
    ("start-ok-bad-table", "running", [START_OK_BAD_TABLE], close(541, "INTERNAL_ERROR")),
    ("open-trailing-opening", "opening", [OPEN_TRAILING], SILENT),
    ("unknown-method-channel-0", "running", [UNKNOWN_METHOD], SILENT),
    ("unknown-method-opening", "opening", [UNKNOWN_METHOD], SILENT),
    # connection methods in the wrong state
    ("close-while-opening", "opening", [CLOSE], unexpected_method("opening", 10, 50)),
    (
        "channel.open-on-0-opening",
        "opening",
        [frame.marshal(commands.Channel.Open(), 0)],
        unexpected_method("opening", 20, 10),
    ),
    (
        "close-ok-while-running",
        "running",
        [frame.marshal(commands.Connection.CloseOk(), 0)],
        unexpected_method("running", 10, 51),
    ),
    # methods a client never sends
    ("deliver-with-content", "running", [DELIVER, content_header(), BODY], close(503, UNIMPLEMENTED, 60, 60)),
    ("deliver-waits-for-content", "running", [DELIVER], NOTHING),
    (
        "close-ok-unasked",
        "running",
        [frame.marshal(commands.Channel.CloseOk(), 1)],
        close(503, UNIMPLEMENTED, 20, 41),
    ),
    (
        "declare-ok",
        "running",
        [frame.marshal(commands.Queue.DeclareOk("q", 0, 0), 1)],
        close(503, UNIMPLEMENTED, 50, 11),
    ),
    (
        "publish-before-channel.open",
        "running",
        [raw_frame(1, 5, publish_fields()), content_header(channel=5), raw_frame(3, 5, b"abc")],
        close(504, "CHANNEL_ERROR - expected 'channel.open'", 60, 40),
    ),
    # content
    (
        "body-too-long-then-method",
        "running",
        [PUBLISH, content_header(), raw_frame(3, 1, b"abcde"), QOS],
        close(505, EXPECTED_BODY, 60, 40),
    ),
    (
        "body-too-long-then-body",
        "running",
        [PUBLISH, content_header(), raw_frame(3, 1, b"abcde"), BODY],
        NOTHING,
    ),
    (
        "empty-body-after-size-0",
        "running",
        [PUBLISH, content_header(size=0), raw_frame(3, 1, b"")],
        close(505, EXPECTED_METHOD),
    ),
    (
        "header-with-weight",
        "running",
        [PUBLISH, content_header(weight=1)],
        close(505, EXPECTED_HEADER, 60, 40),
    ),
    (
        "header-too-short",
        "running",
        [PUBLISH, raw_frame(2, 1, b"\x00\x3c\x00\x00\x00")],
        unknown_frame("type 2, all octets = <<0,60,0,0,0>>"),
    ),
    # content properties RabbitMQ cannot decode crash its channel, but only after its own checks
    ("bad-properties", "running", [PUBLISH, BAD_PROPERTIES, BODY], close(541, "INTERNAL_ERROR")),
    ("properties-trailing", "running", [PUBLISH, TRAILING_PROPERTIES, BODY], close(541, "INTERNAL_ERROR")),
    (
        "bad-properties-no-exchange",
        "running",
        [raw_frame(1, 1, publish_fields(exchange=b"nope")), BAD_PROPERTIES, BODY],
        ("channel.close", 404, "NOT_FOUND - no exchange 'nope' in vhost '/'", 60, 40),
    ),
    (
        "bad-properties-immediate",
        "running",
        [raw_frame(1, 1, publish_fields(bits=2)), BAD_PROPERTIES, BODY],
        close(540, "NOT_IMPLEMENTED - immediate=true", 60, 40),
    ),
    ("bad-properties-closing-channel", "closing-channel", [PUBLISH, BAD_PROPERTIES, BODY], NOTHING),
    # how RabbitMQ prints a frame it refuses
    (
        "body-on-0-long",
        "running",
        [raw_frame(3, 0, b"hello world, this is long")],
        close(505, 'UNEXPECTED_FRAME - type 3, first 16 octets = <<"hello world, thi">>'),
    ),
    (
        "body-on-0-escapes",
        "running",
        [raw_frame(3, 0, b"hello\nworld")],
        close(505, 'UNEXPECTED_FRAME - type 3, all octets = <<"hello\\nworld">>'),
    ),
    (
        "unknown-type-controls",
        "running",
        [raw_frame(9, 0, b'a\tb\x1bc"\\')],
        unknown_frame('type 9, all octets = <<"a\\tb\\ec\\"\\\\">>'),
    ),
    (
        "unknown-type-wrapped",
        "running",
        [raw_frame(9, 0, b"\x96" * 20)],
        unknown_frame(f"type 9, first 16 octets = {WRAPPED}"),
    ),
    (
        "unknown-type-mixed",
        "running",
        [raw_frame(9, 0, b"abc\x00" * 5)],
        unknown_frame(f"type 9, first 16 octets = <<{'97,98,99,0,' * 3}97,98,99,0>>"),
    ),
    (
        "unknown-type-opening",
        "opening",
        [raw_frame(9, 0, b"ab")],
        unknown_frame('type 9, all octets = <<"ab">>'),
    ),
    (
        "unknown-type-on-a-channel-opening",
        "opening",
        [raw_frame(9, 1, b"ab")],
        close(505, 'UNEXPECTED_FRAME - type 9, all octets = <<"ab">>'),
    ),
    (
        "heartbeat-payload-on-a-channel",
        "running",
        [raw_frame(8, 1, b"ab")],
        unknown_frame('type 8, all octets = <<"ab">>'),
    ),
    # channel_max counts channels in use: a new number's first frame of any kind, closing ones too
    ("header-on-a-new-channel-at-max", "channel-max-1", [content_header(channel=2)], too_many_channels(1)),
    ("method-on-a-new-channel-at-max", "channel-max-1", [QUEUE_DECLARE_9], too_many_channels(1)),
    (
        "heartbeat-on-a-new-channel-at-max",
        "channel-max-1",
        [raw_frame(8, 2, b"")],
        close(505, "UNEXPECTED_FRAME - type 8, all octets = <<>>"),
    ),
    (
        "short-method-at-max",
        "channel-max-1",
        [raw_frame(1, 2, b"\x00")],
        unknown_frame("type 1, all octets = <<0>>"),
    ),
    (
        "closing-channels-count",
        "channel-max-2-one-closing",
        [frame.marshal(commands.Channel.Open(), 3)],
        too_many_channels(2),
    ),
    (
        "close-ok-frees-a-channel",
        "channel-max-2-one-closing",
        [frame.marshal(commands.Channel.CloseOk(), 1), frame.marshal(commands.Channel.Open(), 3)],
        reply(commands.Channel.OpenOk, 3),
    ),
    # once the server has sent connection.close, only close and close-ok count
    ("closing-then-close", "closing-connection", [CLOSE], reply(commands.Connection.CloseOk, 0)),
    (
        "closing-ignores-garbage",
        "closing-connection",
        [raw_frame(9, 0, b"ab"), raw_frame(1, 0, b"\x00"), content_header(channel=0), PUBLISH, CLOSE],
        reply(commands.Connection.CloseOk, 0),
    ),
    ("closing-then-bad-end", "closing-connection", [HEARTBEAT[:-1] + b"\x00", CLOSE], SILENT),
    ("closing-then-unknown-method", "closing-connection", [UNKNOWN_METHOD, CLOSE], SILENT),
    (
        "closing-ignores-undecodable-methods",
        "closing-connection",
        [
            raw_frame(1, 0, CLOSE_FIELDS + b"\x00"),
            raw_frame(1, 0, b"\x00\x0a\x00\x28\x02\xff\xfe\x00\x00"),
            CLOSE,
        ],
        reply(commands.Connection.CloseOk, 0),
    ),
]


@pytest.mark.parametrize(
    ("setup", "frames", "answer"), [row[1:] for row in ANSWERS], ids=[row[0] for row in ANSWERS]
)
def test_rabbitmq_answers(
    server: EmbeddedBroker, client: RawClient, setup: str, frames: list[bytes], answer: tuple[Any, ...]
) -> None:
    SETUPS[setup](client)
    client.send(b"".join(frames))
    kind, *expected = answer
    if kind == "close":
        expect_connection_close(client, server.port, *expected)
    elif kind == "channel.close":
        close = client.expect(commands.Channel.Close, 1)
        assert (close.reply_code, close.reply_text, close.class_id, close.method_id) == tuple(expected)
    elif kind == "reply":
        reply_class, number = expected
        client.expect(reply_class, number)
    elif kind == "silent":
        assert client.read_frame(timeout=5.0) is None
        assert client.eof
    else:
        assert client.read_frame(timeout=0.5) is None
        assert not client.eof
    assert_new_connection_works(server.port)


def test_publish_to_an_exchange_named_outside_utf8_is_404_naming_it_as_latin1(client: RawClient) -> None:
    # RabbitMQ passes basic.publish's names on unchecked; 4.0.5 prints the octets as latin-1
    # (3.10.8 hangs printing them).
    client.handshake()
    client.open_channel(1)
    client.send(raw_frame(1, 1, publish_fields(exchange=b"\xff\xfe")) + content_header() + BODY)
    close = client.expect(commands.Channel.Close, 1)
    assert (close.reply_code, close.reply_text) == (404, "NOT_FOUND - no exchange 'ÿþ' in vhost '/'")


def test_names_pamqp_refuses_reach_clients(client: RawClient) -> None:
    # names outside pamqp's pattern, in declare-ok, get-ok, deliver and return
    client.handshake()
    client.open_channel(1)
    for name, kind in ((b"fu{z", b"fanout"), (b"{x}", b"direct")):
        client.send(
            raw_frame(
                1,
                1,
                b"\x00\x28\x00\x0a\x00\x00"
                + bytes([len(name)])
                + name
                + bytes([len(kind)])
                + kind
                + b"\x00\x00\x00\x00\x00",
            )
        )
        client.expect(commands.Exchange.DeclareOk, 1)
    queue = "{é}".encode()
    client.send(raw_frame(1, 1, declare_fields(queue)))
    assert client.expect(commands.Queue.DeclareOk, 1).queue == "{é}"
    client.send(
        raw_frame(1, 1, b"\x00\x32\x00\x14\x00\x00\x04" + queue + b"\x04fu{z\x00\x00\x00\x00\x00\x00")
    )
    client.expect(commands.Queue.BindOk, 1)
    client.send(raw_frame(1, 1, publish_fields(exchange=b"fu{z", routing_key=b"k")) + content_header() + BODY)
    client.send(raw_frame(1, 1, b"\x00\x3c\x00\x46\x00\x00\x04" + queue + b"\x01"))
    get_ok = client.expect(commands.Basic.GetOk, 1)
    assert (get_ok.exchange, get_ok.routing_key) == ("fu{z", "k")
    client.expect(header.ContentHeader, 1)
    client.expect(body.ContentBody, 1)
    client.send(raw_frame(1, 1, b"\x00\x3c\x00\x14\x00\x00\x04" + queue + b"\x00\x02\x00\x00\x00\x00"))
    client.expect(commands.Basic.ConsumeOk, 1)
    client.send(raw_frame(1, 1, publish_fields(exchange=b"fu{z", routing_key=b"k")) + content_header() + BODY)
    assert client.expect(commands.Basic.Deliver, 1).exchange == "fu{z"
    client.expect(header.ContentHeader, 1)
    client.expect(body.ContentBody, 1)
    client.send(raw_frame(1, 1, publish_fields(exchange=b"{x}", bits=1)) + content_header() + BODY)
    returned = client.expect(commands.Basic.Return, 1)
    assert (returned.reply_code, returned.exchange) == (312, "{x}")
    client.expect(header.ContentHeader, 1)
    client.expect(body.ContentBody, 1)
    for name in (b"fu{z", b"{x}"):
        client.send(raw_frame(1, 1, b"\x00\x28\x00\x14\x00\x00" + bytes([len(name)]) + name + b"\x00"))
        client.expect(commands.Exchange.DeleteOk, 1)


# --- a neighbour that breaks the protocol goes unnoticed ----------------------------------------


def test_a_well_behaved_connection_does_not_notice_a_broken_one(server: EmbeddedBroker) -> None:
    """While other connections send every kind of broken input in the table above (and garbage,
    and a publish cut off mid-body), a pika connection on the same broker publishes with confirms
    and consumes: every message arrives once, in order, and nothing else happens to it."""
    good = connect(server)
    channel = good.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.confirm_delivery()
    received: list[bytes] = []

    def on_message(ch: Any, method: Any, _properties: Any, payload: bytes) -> None:
        received.append(payload)
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(queue, on_message)
    cut_off = PUBLISH + content_header(size=10) + raw_frame(3, 1, b"abc")
    breakages = [(setup, b"".join(frames)) for _id, setup, frames, _answer in ANSWERS]
    breakages += [("running", cut_off), ("running", bytes(range(256)) * 4), ("opening", b"\xff" * 64)]
    sent: list[bytes] = []
    try:
        for index, (setup, data) in enumerate(breakages):
            bad = RawClient(server.port)
            try:
                SETUPS[setup](bad)
                with contextlib.suppress(OSError):  # the server may already have hung up
                    bad.send(data)
                payload = f"message {index}".encode()
                channel.basic_publish("", queue, payload)  # returns once confirmed
                sent.append(payload)
                good.process_data_events(time_limit=0)
            finally:
                bad.close()
        assert wait_until(lambda: len(received) >= len(sent), pump=good)
        good.process_data_events(time_limit=0.2)  # a duplicate would arrive now
        assert received == sent
        assert good.is_open and channel.is_open
    finally:
        good.close()


# --- heartbeats ----------------------------------------------------------------------------------


def test_heartbeats_are_sent_and_a_silent_peer_is_dropped(server: EmbeddedBroker) -> None:
    silent, talker = RawClient(server.port, timeout=6), RawClient(server.port, timeout=6)
    try:
        silent.handshake(heartbeat=1)
        talker.handshake(heartbeat=1)
        began = time.monotonic()
        heartbeats: list[float] = []
        ended = None
        while time.monotonic() - began < 4.5 and ended is None:
            talker.send(HEARTBEAT)
            if not silent._read(0.25) and silent.eof:
                ended = time.monotonic() - began
            while silent.buffer.startswith(HEARTBEAT):
                heartbeats.append(time.monotonic() - began)
                silent.buffer = silent.buffer[len(HEARTBEAT) :]
        assert silent.buffer == b"", "only heartbeat frames, and no connection.close, on a timeout"
        assert ended is not None, "a peer silent for more than two heartbeat intervals must be dropped"
        assert 1.5 <= ended <= 4.0
        assert heartbeats, "the server sent no heartbeat"
        assert heartbeats[0] <= 2.0, f"first heartbeat only after {heartbeats[0]:.2f}s"
        assert heartbeats[0] < ended - 0.5
        # the peer that kept sending heartbeats is still served
        talker.open_channel(1)
    finally:
        silent.close()
        talker.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_heartbeats_sans_io() -> None:
    clock = FakeClock()
    connection = open_sans_io(heartbeat=1, clock=clock)
    clock.now = 0.6
    connection.tick()
    assert connection.data_to_send() == HEARTBEAT
    clock.now = 1.5
    connection.receive(HEARTBEAT)  # the peer is alive
    clock.now = 3.0
    connection.tick()
    assert not connection.closed
    assert connection.data_to_send() == HEARTBEAT
    clock.now = 3.6
    connection.tick()
    assert connection.closed
    assert connection.data_to_send() in (b"", HEARTBEAT)  # no connection.close: the peer is just gone


# --- sans-IO ------------------------------------------------------------------------------------


def decode_all(data: bytes) -> list[tuple[int, Any]]:
    frames = []
    while data:
        used, channel, value = frame.unmarshal(data)
        frames.append((channel, value))
        data = data[used:]
    return frames


def handshake_bytes(heartbeat: int = 0) -> bytes:
    return b"".join(
        [
            ProtocolHeader().marshal(),
            frame.marshal(
                commands.Connection.StartOk(
                    client_properties={"capabilities": {"authentication_failure_close": True}},
                    mechanism="PLAIN",
                    response="\x00guest\x00guest",
                    locale="en_US",
                ),
                0,
            ),
            frame.marshal(commands.Connection.TuneOk(2047, FRAME_MAX, heartbeat), 0),
            frame.marshal(commands.Connection.Open("/"), 0),
        ]
    )


def open_sans_io(heartbeat: int = 0, clock: Callable[[], float] | None = None) -> AMQPConnection:
    broker = Broker(clock=clock) if clock is not None else Broker()
    connection = AMQPConnection(broker)
    connection.receive(handshake_bytes(heartbeat))
    frames = decode_all(connection.data_to_send())
    assert isinstance(frames[-1][1], commands.Connection.OpenOk)
    assert connection.state is State.OPEN
    return connection


def test_a_session_fed_one_byte_at_a_time_works() -> None:
    session = handshake_bytes() + b"".join(
        [
            frame.marshal(commands.Channel.Open(), 1),
            frame.marshal(commands.Queue.Declare(queue="bytes"), 1),
            frame.marshal(commands.Basic.Publish(routing_key="bytes"), 1),
            frame.marshal(header.ContentHeader(0, 5, PROPERTIES), 1),
            frame.marshal(body.ContentBody(b"hello"), 1),
            frame.marshal(commands.Basic.Get(queue="bytes", no_ack=True), 1),
        ]
    )
    connection = AMQPConnection(Broker())
    out = b""
    for index in range(len(session)):
        connection.receive(session[index : index + 1])
        out += connection.data_to_send()
    assert out.startswith(b"\x01\x00\x00")
    kinds = [type(value) for _channel, value in decode_all(out)]
    assert kinds == [
        commands.Connection.Start,
        commands.Connection.Tune,
        commands.Connection.OpenOk,
        commands.Channel.OpenOk,
        commands.Queue.DeclareOk,
        commands.Basic.GetOk,
        header.ContentHeader,
        body.ContentBody,
    ]


def test_hard_error_sans_io_waits_for_close_ok_and_ignores_the_rest() -> None:
    connection = open_sans_io()
    connection.receive(frame.marshal(commands.Queue.Declare(queue="q"), 9))
    [(number, close)] = decode_all(connection.data_to_send())
    assert isinstance(close, commands.Connection.Close)
    assert (number, close.reply_code, close.reply_text) == (0, 504, "CHANNEL_ERROR - expected 'channel.open'")
    assert connection.close_reason is not None
    assert connection.close_reason.reply_code == 504
    assert connection.state is State.CLOSING
    connection.receive(frame.marshal(commands.Channel.Open(), 1))  # ignored while closing
    assert connection.data_to_send() == b""
    connection.receive(frame.marshal(commands.Connection.CloseOk(), 0))
    assert connection.closed


def test_a_frame_that_cannot_be_delimited_stops_the_reading_and_the_socket_closes_later() -> None:
    # RabbitMQ sends connection.close for an oversize frame, reads nothing more (no close-ok
    # either) and hangs up three seconds later.
    clock = FakeClock()
    connection = open_sans_io(clock=clock)
    connection.receive(struct.pack(">BHI", 3, 1, 200000))
    [(number, close)] = decode_all(connection.data_to_send())
    assert (number, close.reply_code) == (0, 501)
    connection.receive(frame.marshal(commands.Connection.CloseOk(), 0))
    assert connection.state is State.CLOSING
    clock.now = 2.9
    connection.tick()
    assert not connection.closed
    clock.now = 3.0
    connection.tick()
    assert connection.closed


@pytest.mark.parametrize(("heartbeat", "timeout"), [(0, 30.0), (5, 5.0), (60, 30.0)])
def test_close_ok_is_awaited_for_30_seconds_or_one_heartbeat(heartbeat: int, timeout: float) -> None:
    clock = FakeClock()
    connection = open_sans_io(heartbeat=heartbeat, clock=clock)
    connection.receive(frame.marshal(commands.Queue.Declare(queue="q"), 9))  # 504
    assert connection.state is State.CLOSING
    clock.now = timeout - 0.1
    connection.tick()
    assert connection.state is State.CLOSING
    clock.now = timeout
    connection.tick()
    assert connection.closed


def test_frames_after_an_error_in_the_same_chunk_are_handled() -> None:
    # the close-ok that follows the offending frame in one read is not left waiting for more bytes
    connection = open_sans_io()
    connection.receive(
        frame.marshal(commands.Queue.Declare(queue="q"), 9) + frame.marshal(commands.Connection.CloseOk(), 0)
    )
    [(_number, close)] = decode_all(connection.data_to_send())
    assert close.reply_code == 504
    assert connection.closed


@pytest.mark.parametrize(
    ("payload", "expected"),
    [  # measured on RabbitMQ 4.0.5 (3.10.8 prints the same for ASCII, and hangs on the rest)
        (b"\x96" * 15, "<<150,150,150,150,150,150,150,150,150,150,150,150,150,150,\n" + " " * 23 + "150>>"),
        ((b"\x05\x96\x96" * 6)[:16], "<<5,150,150,5,150,150,5,150,150,5,150,150,5,150,150,5>>"),
        (b"\xc3\xa9", '<<"é"/utf8>>'),
        ("日本".encode(), '<<"日本"/utf8>>'),
        (b"\xa0\xff", '<<"\xa0ÿ">>'),
        (b"\x7f", "<<127>>"),
        (b"a\x07", "<<97,7>>"),
        (b"", "<<>>"),
    ],
    ids=["wrapped", "unwrapped", "utf8", "cjk", "latin1", "del", "bell", "empty"],
)
def test_refused_frames_are_printed_as_rabbitmq_prints_them(payload: bytes, expected: str) -> None:
    assert frame_octets(9, payload) == "type 9, all octets = " + expected
    assert frame_octets(9, payload + b"\x00" * 17)[:27] == "type 9, first 16 octets = <"
