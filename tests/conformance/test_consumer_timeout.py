"""Consumer timeout, the simulator against real RabbitMQ, over the wire with pika.

A conformance scenario cannot change a broker's settings, and with RabbitMQ's defaults (a 30
minute timeout, checked every 60 s) nothing would happen within a scenario's time. So each test
here lowers `channel_tick_interval` on the real broker at runtime (rabbitmqctl eval; harmless to
others: only more frequent checks) for its own duration, and `consumer_timeout` only for the
instant it opens one channel (a channel keeps the value it opened with), restoring both; the
simulator is started with the same settings, and the outcomes must agree.

RabbitMQ 4.3 times consumers differently (tests/broker/CONSUMER_TIMEOUT.md); only 3.10 and 4.0,
whose semantics the simulator follows, are compared here."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pika
import pytest

from rabbitsim.amqp import AMQPServer
from rabbitsim.backends._local import LocalBroker
from rabbitsim.broker import Broker
from tests.conformance.harness import parameters
from tests.real_brokers import require_real_broker

VERSIONS = ["3.10", "4.0"]
TICK = 1000  # ms, on both sides
SetTimeout = Callable[[int], None]


@contextlib.contextmanager
def real(version: str) -> Iterator[tuple[str, SetTimeout]]:
    url = require_real_broker(version)
    broker = LocalBroker.find(url)
    if broker is None:
        pytest.fail(f"the RabbitMQ {version} at {url} was not started by .ci/brokers: cannot set its timeout")
    before = broker.rabbitmqctl(
        "eval",
        "{application:get_env(rabbit, channel_tick_interval), application:get_env(rabbit, consumer_timeout),"
        f" application:set_env(rabbit, channel_tick_interval, {TICK})}}.",
    )
    assert before.strip() == "{{ok,60000},{ok,1800000},ok}", f"changed by someone else? {before}"

    def set_timeout(ms: int) -> None:
        broker.rabbitmqctl("eval", f"application:set_env(rabbit, consumer_timeout, {ms}).")

    try:
        yield url, set_timeout
    finally:
        broker.rabbitmqctl(
            "eval",
            "{application:set_env(rabbit, consumer_timeout, 1800000),"
            " application:set_env(rabbit, channel_tick_interval, 60000)}.",
        )


@contextlib.contextmanager
def sim(version: str) -> Iterator[tuple[str, SetTimeout]]:
    server = AMQPServer(Broker(clock=time.monotonic, profile=version, channel_tick_interval=TICK))

    def set_timeout(ms: int) -> None:
        def apply() -> None:
            server.broker.consumer_timeout = ms

        server.call(apply)

    try:
        yield f"amqp://guest:guest@127.0.0.1:{server.port}/%2F", set_timeout
    finally:
        server.close()


def hold(
    url: str, set_timeout: SetTimeout, *, global_timeout: int | None, arguments: dict[str, Any], timeout: int
) -> Any:
    """Open a channel (under a lowered global timeout when one is given, restored meanwhile:
    rabbitmqctl takes seconds, and an idle channel would hibernate), take three messages unacked,
    and see what happens within a tick after the timeout; a channel opened before holds one
    unacked message."""
    connection = pika.BlockingConnection(parameters(url, heartbeat=0))
    restore = threading.Thread(target=set_timeout, args=(1_800_000,))
    try:
        keeper = connection.channel()
        if global_timeout is not None:
            set_timeout(global_timeout)
        opened = time.monotonic()
        slow = connection.channel()
        if global_timeout is not None:
            restore.start()
        queue, other = f"ct-{uuid.uuid4().hex[:8]}", f"ct-{uuid.uuid4().hex[:8]}"
        closed: list[Any] = []
        slow._impl.add_on_close_callback(lambda _c, reason: closed.append((time.monotonic(), reason)))
        slow.queue_declare(queue, arguments=arguments)
        keeper.queue_declare(other)
        for body in (b"m1", b"m2", b"m3"):
            keeper.basic_publish("", queue, body)
        keeper.basic_publish("", other, b"kept")
        got: list[bytes] = []
        first: list[float] = []

        def take(_c: Any, _m: Any, _p: Any, body: bytes) -> None:
            first.append(first[0] if first else time.monotonic())
            got.append(body)

        slow.basic_consume(queue, take)
        keeper.basic_consume(other, lambda _c, _m, _p, _b: None)
        wait = (timeout + TICK) / 1000 + 0.5  # a close comes by then, if at all

        def deadline() -> float:
            return first[0] + wait if first else opened + 5

        while not closed and time.monotonic() < deadline():
            connection.process_data_events(time_limit=0.02)
        outcome: dict[str, Any] = {"delivered": got}
        if closed:
            when, reason = closed[0]
            # on a tick (every second) once the oldest delivery is older than the timeout: not
            # sooner, and at most a tick later (which tick depends on when the channel last woke)
            waited = when - first[0]
            on_time = timeout / 1000 <= waited < (timeout + TICK) / 1000 + 0.25
            outcome["closed"] = (reason.reply_code, reason.reply_text, on_time)
            peek = connection.channel()
            outcome["requeued"] = []
            while (found := peek.basic_get(queue, auto_ack=True))[0] is not None:
                outcome["requeued"].append((found[2], found[0].redelivered))
        else:
            outcome["closed"] = None
        outcome["keeper_open"] = keeper.is_open
        outcome["connection_open"] = connection.is_open
        cleaner = connection.channel()
        cleaner.queue_delete(queue)
        cleaner.queue_delete(other)
        return outcome
    finally:
        if restore.ident is not None:
            restore.join()
        with contextlib.suppress(Exception):
            connection.close()


CASES: dict[str, dict[str, Any]] = {
    "global": {"global_timeout": 1000, "arguments": {}, "timeout": 1000},
    "queue_argument": {"global_timeout": None, "arguments": {"x-consumer-timeout": 2000}, "timeout": 2000},
}


@pytest.fixture(scope="module", params=VERSIONS)
def real_broker(request: pytest.FixtureRequest) -> Iterator[tuple[str, str, SetTimeout]]:
    """A real broker with the short tick for all of this module's cases (rabbitmqctl is slow)."""
    version: str = request.param
    with real(version) as (url, set_timeout):
        yield version, url, set_timeout


@pytest.mark.parametrize("case", list(CASES))
def test_consumer_timeout_agrees_with_rabbitmq(real_broker: tuple[str, str, SetTimeout], case: str) -> None:
    version, url, set_timeout = real_broker
    expected = hold(url, set_timeout, **CASES[case])
    with sim(version) as (url, set_timeout):
        outcome = hold(url, set_timeout, **CASES[case])
    assert outcome == expected
    if case == "global" or version == "4.0":  # 3.10 has no queue argument
        code, text, on_time = expected["closed"]
        assert code == 406 and "timed out" in text and on_time
        assert expected["requeued"] == [(b"m1", True), (b"m2", True), (b"m3", True)]
        assert expected["keeper_open"] and expected["connection_open"]
    else:
        assert expected["closed"] is None
