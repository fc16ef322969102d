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
from rabbitsim.backends import EmbeddedBroker
from rabbitsim.amqp import AMQPConnection, State
from rabbitsim.broker import Broker

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
    handle = rabbitsim.start()
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
    connection.receive(b"AMQP\x01\x01\x00\x09")
    assert connection.data_to_send() == AMQP_HEADER
    assert connection.closed
    connection.receive(ProtocolHeader().marshal())  # nothing more once closed
    assert connection.data_to_send() == b""


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
