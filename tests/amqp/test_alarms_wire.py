"""Resource alarms on the wire: connection.blocked / unblocked to clients that asked for them, a
blocked publisher's socket left unread (its client's writes back up) while consumers on other
connections go on, and a publisher that publishes forever into a small watermark held rather than
growing the broker's memory without end."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pika
from pamqp import body, commands, frame, header

import rabbitsim
from rabbitsim.backends import EmbeddedBroker, ProcessBroker

from .conftest import connect, wait_until

#: pika's capabilities without `connection.blocked`: a client that cannot be told
NO_BLOCKED_CAPABILITY = {
    "capabilities": {
        "authentication_failure_close": True,
        "basic.nack": True,
        "consumer_cancel_notify": True,
        "publisher_confirms": True,
    }
}


class RawClient:
    """A bare AMQP client on one channel, to see exactly which frames come and whether the
    server still reads what we send."""

    def __init__(self, port: int, *, blocked_capability: bool = True) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self.expect(commands.Connection.Start)
        capabilities = {"connection.blocked": True} if blocked_capability else {}
        self.send(
            commands.Connection.StartOk(
                client_properties={"product": "raw", "capabilities": capabilities},  # type: ignore[dict-item]
                mechanism="PLAIN",
                response="\0guest\0guest",
            )
        )
        tune = self.expect(commands.Connection.Tune)
        assert isinstance(tune, commands.Connection.Tune)
        self.send(commands.Connection.TuneOk(tune.channel_max, tune.frame_max, 0))
        self.send(commands.Connection.Open("/"))
        self.expect(commands.Connection.OpenOk)
        self.send(commands.Channel.Open(), 1)
        self.expect(commands.Channel.OpenOk)

    def send(self, method: object, channel: int = 0) -> None:
        self.sock.sendall(frame.marshal(method, channel))  # type: ignore[arg-type]

    def publish_frames(self, queue: str, payload: bytes) -> bytes:
        return (
            frame.marshal(commands.Basic.Publish(exchange="", routing_key=queue), 1)
            + frame.marshal(header.ContentHeader(0, len(payload), commands.Basic.Properties()), 1)
            + frame.marshal(body.ContentBody(payload), 1)
        )

    def read(self, timeout: float = 5.0) -> object | None:
        """The next frame's value, or None if none comes within `timeout`."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buffer) >= 7:
                size = struct.unpack(">I", self.buffer[3:7])[0]
                if len(self.buffer) >= size + 8:
                    used, _channel, value = frame.unmarshal(self.buffer)
                    self.buffer = self.buffer[used:]
                    return value
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            if not data:
                raise EOFError
            self.buffer += data

    def expect(self, kind: type) -> object:
        value = self.read()
        assert isinstance(value, kind), value
        return value

    def close(self) -> None:
        self.sock.close()


def test_only_a_publishing_client_that_asked_is_told_and_its_publish_waits(broker: EmbeddedBroker) -> None:
    publisher, deaf, idle = (
        RawClient(broker.port),
        RawClient(broker.port, blocked_capability=False),
        RawClient(broker.port),
    )
    try:
        idle.send(commands.Queue.Declare(queue="held"), 1)
        idle.expect(commands.Queue.DeclareOk)
        broker.simulate_free_disk(0)
        assert broker.alarms() == ["disk"]
        assert idle.read(timeout=0.2) is None  # an alarm alone tells nobody
        publisher.sock.sendall(publisher.publish_frames("held", b"one"))
        blocked = publisher.read()
        assert isinstance(blocked, commands.Connection.Blocked) and blocked.reason == "low on disk"
        deaf.sock.sendall(deaf.publish_frames("held", b"two"))
        assert deaf.read(timeout=0.2) is None  # blocked too, without a word
        publisher.send(commands.Queue.Declare(queue="held", passive=True), 1)
        assert publisher.read(timeout=0.2) is None  # nothing after the publish is read
        idle.send(commands.Queue.Declare(queue="held", passive=True), 1)  # a connection that
        ok = idle.expect(commands.Queue.DeclareOk)  # did not publish is served
        assert ok.message_count == 0  # type: ignore[attr-defined]
        broker.simulate_free_disk(None)
        assert isinstance(publisher.read(), commands.Connection.Unblocked)
        assert isinstance(publisher.read(), commands.Queue.DeclareOk)
        assert deaf.read(timeout=0.2) is None
        assert wait_until(lambda: broker.topology().queue("held").messages_ready == 2)
    finally:
        for client in (publisher, deaf, idle):
            client.close()


def test_a_blocked_publishers_socket_is_not_read_while_consumers_go_on(broker: EmbeddedBroker) -> None:
    setup = connect(broker)
    channel = setup.channel()
    channel.queue_declare("work")
    for number in range(20):
        channel.basic_publish("", "work", str(number).encode())
    setup.close()
    publisher = RawClient(broker.port)
    consumer = connect(broker)
    try:
        broker.simulate_free_disk("1MB")
        publisher.sock.setblocking(False)
        chunk = publisher.publish_frames("work", b"x" * 65536)
        sent = 0
        stalled_at = time.monotonic() + 5
        while time.monotonic() < stalled_at:  # until the socket buffers are full
            try:
                sent += publisher.sock.send(chunk)
            except BlockingIOError:
                time.sleep(0.05)
                try:
                    sent += publisher.sock.send(chunk)
                except BlockingIOError:
                    break
        else:
            raise AssertionError("the server kept reading a blocked connection")
        assert sent < 64 * 2**20  # held by the kernel's buffers, not taken into the broker
        received: list[bytes] = []
        consuming = consumer.channel()
        consuming.basic_qos(prefetch_count=1)

        def take(ch: object, method: pika.spec.Basic.Deliver, _p: object, payload: bytes) -> None:
            received.append(payload)
            consuming.basic_ack(method.delivery_tag)

        consuming.basic_consume("work", take)
        assert wait_until(lambda: len(received) == 20, pump=consumer)
        assert received == [str(number).encode() for number in range(20)]
        assert broker.alarms() == ["disk"]
    finally:
        broker.simulate_free_disk(None)
        publisher.close()
        consumer.close()


def test_pika_sees_blocked_and_unblocked_and_nothing_is_lost(broker: EmbeddedBroker) -> None:
    seen: list[str] = []
    publisher = connect(broker)
    deaf = connect(broker, client_properties=NO_BLOCKED_CAPABILITY)
    publisher.add_on_connection_blocked_callback(lambda _c, f: seen.append(f"blocked {f.method.reason}"))
    publisher.add_on_connection_unblocked_callback(lambda _c, _f: seen.append("unblocked"))
    deaf.add_on_connection_blocked_callback(lambda _c, _f: seen.append("deaf told"))
    channel, other = publisher.channel(), deaf.channel()
    channel.queue_declare("kept")
    broker.set_disk_free_limit("1000000GB")  # more than any disk here: the alarm goes on
    try:
        assert broker.alarms() == ["disk"]
        channel.basic_publish("", "kept", b"from pika")
        other.basic_publish("", "kept", b"from the deaf")
        assert wait_until(lambda: "blocked low on disk" in seen, pump=publisher)
        deaf.process_data_events(time_limit=0.2)
    finally:
        broker.set_disk_free_limit(50_000_000)
    assert wait_until(lambda: "unblocked" in seen, pump=publisher)
    assert seen == ["blocked low on disk", "unblocked"]
    assert channel.queue_declare("kept", passive=True).method.message_count == 2
    publisher.close()
    deaf.close()


def test_publishing_forever_into_a_small_watermark_blocks_the_publisher() -> None:
    """On the default simulator, in its own process, whose memory is the broker's alone (the
    publisher's client buffers grow in this one)."""
    with rabbitsim.start("sim") as broker:
        run_publishing_forever(broker)


def run_publishing_forever(broker: ProcessBroker) -> None:
    status = broker.alarm_status()
    assert status.memory_used is not None
    broker.set_vm_memory_high_watermark(status.memory_used + 40_000_000)  # absolute bytes
    published = [0]
    stop = threading.Event()

    def publish_forever() -> None:
        connection = connect(broker, blocked_connection_timeout=None)
        channel = connection.channel()
        channel.queue_declare("sink")
        payload = b"m" * 100_000
        try:
            while not stop.is_set():
                channel.basic_publish("", "sink", payload)
                published[0] += 1
        except pika.exceptions.AMQPError:
            pass
        finally:
            if connection.is_open:
                connection.close()

    worker = threading.Thread(target=publish_forever, daemon=True)
    worker.start()
    try:
        assert wait_until(lambda: broker.alarms() == ["memory"], timeout=10)
        time.sleep(0.5)
        held_at = published[0]
        time.sleep(1.0)
        assert published[0] - held_at <= 50  # what the socket buffers take, then nothing
        memory = broker.alarm_status()
        assert memory.memory_used is not None and memory.memory_limit is not None
        assert memory.memory_used < memory.memory_limit + 200_000_000
    finally:
        stop.set()
        broker.set_vm_memory_high_watermark(1.0)  # the alarm clears, the publisher is read again
        worker.join(10)
    assert not worker.is_alive()
