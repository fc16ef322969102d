"""The tutorials' path with aio-pika (asyncio, on aiormq), over TCP against the server.

aio-pika runs on aiormq: its own asyncio connection and channel state machine, with publisher
confirms on and mandatory publishes by default, so it sends what pika's tutorials never do.
The broker comes from `clients.broker_target()`: the embedded simulator, or the real broker named
by RABBITSIM_CLIENT_TESTS_URL (how every expectation here was first checked against RabbitMQ
3.10.8 and 4.0.5). Each test runs one coroutine under `asyncio.wait_for`, so none can hang."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aio_pika
import aiormq.abc
import aiormq.exceptions
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pamqp.commands import Basic

from .clients import STEP_SECONDS, Target, broker_target, unique

TEST_SECONDS = 10.0


@pytest.fixture
def target() -> Iterator[Target]:
    with broker_target() as found:
        yield found


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run one test's coroutine on a fresh event loop, failing it if it takes too long."""

    async def bounded() -> None:
        await asyncio.wait_for(scenario(), TEST_SECONDS)

    asyncio.run(bounded())


@contextlib.asynccontextmanager
async def connect(target: Target) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    connection = await aio_pika.connect(target.url, timeout=STEP_SECONDS)
    try:
        yield connection
    finally:
        await connection.close()


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Yield to the event loop until `condition` holds (the deliveries arrive as callbacks)."""
    try:
        async with asyncio.timeout(STEP_SECONDS):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        pytest.fail(f"timed out after {STEP_SECONDS} s: {what}")


async def ignore(message: AbstractIncomingMessage) -> None:
    """A consumer callback for deliveries the test does not look at."""


async def drain(queue: AbstractQueue) -> list[bytes]:
    """Every message ready in `queue` now, by basic.get with no-ack."""
    bodies = []
    while (message := await queue.get(no_ack=True, fail=False, timeout=STEP_SECONDS)) is not None:
        bodies.append(message.body)
    return bodies


# --- 1. Hello world ----------------------------------------------------------------------------------


def test_hello_world(target: Target) -> None:
    """Sender and receiver on separate connections; the message arrives whole, with its properties."""

    async def scenario() -> None:
        name = unique("hello")
        async with connect(target) as sender, connect(target) as receiver:
            send_channel = await sender.channel()
            await send_channel.declare_queue(name, auto_delete=True)
            await send_channel.default_exchange.publish(
                aio_pika.Message(
                    b"Hello World!",
                    content_type="text/plain",
                    headers={"lang": "en", "n": 1, "nested": {"ok": True}},
                    message_id="m-1",
                ),
                routing_key=name,
            )

            channel = await receiver.channel()
            queue = await channel.declare_queue(name, auto_delete=True)
            received: asyncio.Future[AbstractIncomingMessage] = asyncio.get_running_loop().create_future()

            async def on_message(message: AbstractIncomingMessage) -> None:
                received.set_result(message)

            await queue.consume(on_message, no_ack=True)
            message = await asyncio.wait_for(received, STEP_SECONDS)
            assert message.body == b"Hello World!"
            assert (message.exchange, message.routing_key, message.redelivered) == ("", name, False)
            assert message.content_type == "text/plain"
            assert message.message_id == "m-1"
            assert message.headers == {"lang": "en", "n": 1, "nested": {"ok": True}}

    run(scenario)


# --- 2. Work queues ----------------------------------------------------------------------------------


def test_work_queue_fair_dispatch_and_redelivery(target: Target) -> None:
    """Prefetch 1 and manual acks: a worker stuck on one message gets no more, the other does the
    rest; when the stuck worker's channel closes, its unacked message goes to the other, redelivered."""

    async def scenario() -> None:
        name = unique("task_queue")
        tasks = [f"task {n}".encode() for n in range(8)]
        stuck: list[AbstractIncomingMessage] = []
        done: list[tuple[bytes, bool | None]] = []
        async with connect(target) as producer, connect(target) as slow, connect(target) as fast:
            channel = await producer.channel()
            await channel.declare_queue(name, durable=True)

            slow_channel = await slow.channel()
            await slow_channel.set_qos(prefetch_count=1)
            slow_queue = await slow_channel.declare_queue(name, durable=True)

            async def hold(message: AbstractIncomingMessage) -> None:
                stuck.append(message)  # never acked: this worker is busy forever

            await slow_queue.consume(hold)

            fast_channel = await fast.channel()
            await fast_channel.set_qos(prefetch_count=1)
            fast_queue = await fast_channel.declare_queue(name, durable=True)

            async def work(message: AbstractIncomingMessage) -> None:
                done.append((message.body, message.redelivered))
                await message.ack()

            await fast_queue.consume(work)

            for body in tasks:
                await channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=name
                )

            await wait_for(lambda: len(done) == len(tasks) - 1, f"fast worker did {len(done)}")
            assert len(stuck) == 1, "prefetch=1: the busy worker holds exactly one message"
            assert stuck[0].body not in [body for body, _ in done]

            await slow_channel.close()  # the worker dies with its message unacked
            await wait_for(lambda: len(done) == len(tasks), "the unacked message was not redelivered")
            assert done[-1] == (stuck[0].body, True)
            assert sorted(body for body, _ in done) == sorted(tasks)
            assert [redelivered for _, redelivered in done[:-1]] == [False] * (len(tasks) - 1)

            declared = await channel.declare_queue(name, passive=True)
            assert declared.declaration_result.message_count == 0
            await channel.queue_delete(name)

    run(scenario)


# --- 3. Publish/subscribe ----------------------------------------------------------------------------


def test_fanout_to_exclusive_server_named_queues(target: Target) -> None:
    """Each subscriber gets its own amq.gen-… queue and every message; the queue is its
    connection's alone (405 for others) and is gone once that connection closes (404)."""

    async def scenario() -> None:
        exchange_name = unique("logs")
        logs = [b"info: one", b"warning: two", b"error: three"]
        async with connect(target) as publisher, connect(target) as outsider:
            channel = await publisher.channel()
            exchange = await channel.declare_exchange(exchange_name, aio_pika.ExchangeType.FANOUT)
            queues: list[AbstractQueue] = []
            subscribers = [await aio_pika.connect(target.url, timeout=STEP_SECONDS) for _ in range(2)]
            try:
                for subscriber in subscribers:
                    sub_channel = await subscriber.channel()
                    queue = await sub_channel.declare_queue(exclusive=True)
                    assert queue.name.startswith("amq.gen-"), queue.name
                    await queue.bind(exchange_name)
                    queues.append(queue)
                assert queues[0].name != queues[1].name

                for line in logs:
                    await exchange.publish(aio_pika.Message(line), routing_key="ignored")
                for queue in queues:
                    assert await drain(queue) == logs

                other = await outsider.channel()
                with pytest.raises(aiormq.exceptions.ChannelLockedResource) as locked:
                    await other.declare_queue(queues[0].name, passive=True)
                assert locked.value.args[0] == (
                    f"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue "
                    f"'{queues[0].name}' in vhost '{target.vhost}'. It could be originally declared "
                    f"on another connection or the exclusive property value does not match that "
                    f"of the original declaration."
                )
            finally:
                for subscriber in subscribers:
                    await subscriber.close()

            probe = await outsider.channel()
            for queue in queues:
                with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as missing:
                    await probe.declare_queue(queue.name, passive=True)
                assert (
                    missing.value.args[0] == f"NOT_FOUND - no queue '{queue.name}' in vhost '{target.vhost}'"
                )
                probe = await outsider.channel()
            await probe.exchange_delete(exchange_name)

    run(scenario)


# --- 4 and 5. Routing --------------------------------------------------------------------------------


async def bound_queues(
    channel: AbstractChannel, exchange: str, bindings: dict[str, list[str]]
) -> dict[str, AbstractQueue]:
    """One exclusive server-named queue per entry, bound with each of its keys."""
    queues = {}
    for label, keys in bindings.items():
        queue = await channel.declare_queue(exclusive=True)
        for key in keys:
            await queue.bind(exchange, routing_key=key)
        queues[label] = queue
    return queues


def test_direct_routing_by_severity(target: Target) -> None:
    """A direct exchange delivers by exact key; a key nobody bound is dropped silently (aio-pika
    publishes mandatory by default, so that is turned off here, as pika's default has it)."""

    async def scenario() -> None:
        name = unique("direct_logs")
        async with connect(target) as connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.DIRECT, auto_delete=True)
            queues = await bound_queues(
                channel, name, {"disk": ["error"], "console": ["info", "warning", "error"]}
            )
            for severity in ["info", "error", "debug", "warning", "error"]:
                confirm = await exchange.publish(
                    aio_pika.Message(f"{severity} message".encode()), routing_key=severity, mandatory=False
                )
                assert isinstance(confirm, Basic.Ack)
            assert await drain(queues["disk"]) == [b"error message", b"error message"]
            assert await drain(queues["console"]) == [
                b"info message",
                b"error message",
                b"warning message",
                b"error message",
            ]

    run(scenario)


TOPIC_CASES = {
    "quick.orange.rabbit": {"Q1", "Q2"},
    "lazy.orange.elephant": {"Q1", "Q2"},
    "quick.orange.fox": {"Q1"},
    "lazy.brown.fox": {"Q2"},
    "lazy.pink.rabbit": {"Q2"},  # matched by two of Q2's bindings: one copy
    "quick.brown.fox": set(),
    "orange": set(),
    "quick.orange.new.rabbit": set(),
    "lazy.orange.new.rabbit": {"Q2"},
    "lazy": {"Q2"},  # '#' matches zero words
}


def test_topic_routing_tutorial_table(target: Target) -> None:
    """The tutorial's table: '*' is exactly one word, '#' zero or more, one copy per queue."""

    async def scenario() -> None:
        name = unique("topic_logs")
        async with connect(target) as connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, auto_delete=True)
            queues = await bound_queues(channel, name, {"Q1": ["*.orange.*"], "Q2": ["*.*.rabbit", "lazy.#"]})
            for key in TOPIC_CASES:
                await exchange.publish(aio_pika.Message(key.encode()), routing_key=key, mandatory=False)
            got = {label: await drain(queue) for label, queue in queues.items()}
            for label, bodies in got.items():
                expected = [key.encode() for key, labels in TOPIC_CASES.items() if label in labels]
                assert bodies == expected, label

    run(scenario)


# --- 6. RPC ------------------------------------------------------------------------------------------


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


async def serve_fib(channel: AbstractChannel, queue_name: str, seen_reply_to: list[str]) -> None:
    """The tutorial's RPC server: answer each request on the default exchange to its reply_to."""
    await channel.set_qos(prefetch_count=1)
    queue = await channel.declare_queue(queue_name, auto_delete=True)

    async def on_request(message: AbstractIncomingMessage) -> None:
        async with message.process():
            assert message.reply_to is not None
            seen_reply_to.append(message.reply_to)
            answer = fib(int(message.body))
            await channel.default_exchange.publish(
                aio_pika.Message(str(answer).encode(), correlation_id=message.correlation_id),
                routing_key=message.reply_to,
            )

    await queue.consume(on_request)


def test_rpc_with_callback_queue_and_correlation_id(target: Target) -> None:
    """Concurrent calls share one exclusive callback queue; replies are matched by correlation_id."""

    async def scenario() -> None:
        rpc_queue = unique("rpc_queue")
        seen_reply_to: list[str] = []
        async with connect(target) as server, connect(target) as client:
            await serve_fib(await server.channel(), rpc_queue, seen_reply_to)

            channel = await client.channel()
            callback_queue = await channel.declare_queue(exclusive=True)
            pending: dict[str, asyncio.Future[int]] = {}

            async def on_response(message: AbstractIncomingMessage) -> None:
                assert message.correlation_id is not None
                pending.pop(message.correlation_id).set_result(int(message.body))

            await callback_queue.consume(on_response, no_ack=True)

            async def call(n: int) -> int:
                correlation_id = unique("call")
                future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                pending[correlation_id] = future
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        str(n).encode(), correlation_id=correlation_id, reply_to=callback_queue.name
                    ),
                    routing_key=rpc_queue,
                )
                return await future

            numbers = [1, 10, 20, 5, 15]
            assert await asyncio.gather(*(call(n) for n in numbers)) == [fib(n) for n in numbers]
            assert seen_reply_to == [callback_queue.name] * len(numbers)
            assert not pending

    run(scenario)


DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"


def test_rpc_with_direct_reply_to(target: Target) -> None:
    """Direct reply-to: the client consumes the pseudo-queue amq.rabbitmq.reply-to (no-ack) and
    publishes with reply_to set to it; the server sees a rewritten, routable name and replies
    through the default exchange straight to the client's channel, with no queue declared."""

    async def scenario() -> None:
        rpc_queue = unique("rpc_queue")
        seen_reply_to: list[str] = []
        async with connect(target) as server, connect(target) as client:
            await serve_fib(await server.channel(), rpc_queue, seen_reply_to)

            channel = await client.channel()
            replies: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

            async def on_reply(message: AbstractIncomingMessage) -> None:
                await replies.put(message)

            reply_queue = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
            await reply_queue.consume(on_reply, no_ack=True)

            for n, correlation_id in [(7, "first"), (12, "second")]:
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        str(n).encode(), correlation_id=correlation_id, reply_to=DIRECT_REPLY_TO
                    ),
                    routing_key=rpc_queue,
                )
                reply = await asyncio.wait_for(replies.get(), STEP_SECONDS)
                assert (reply.correlation_id, int(reply.body)) == (correlation_id, fib(n))
                assert reply.exchange == ""
                assert reply.routing_key == seen_reply_to[-1]
                assert reply.redelivered is False

            assert len(seen_reply_to) == 2
            assert seen_reply_to[0] == seen_reply_to[1], "one channel, one reply address"
            assert seen_reply_to[0].startswith(DIRECT_REPLY_TO + "."), seen_reply_to[0]

    run(scenario)


async def publish_request_without_reply_consumer(channel: AbstractChannel) -> None:
    queue = await channel.declare_queue(exclusive=True)
    await channel.default_exchange.publish(
        aio_pika.Message(b"request", reply_to=DIRECT_REPLY_TO), routing_key=queue.name
    )


async def consume_replies_with_acks(channel: AbstractChannel) -> None:
    queue = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
    await queue.consume(ignore, no_ack=False)


async def consume_replies_twice(channel: AbstractChannel) -> None:
    queue = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
    await queue.consume(ignore, no_ack=True)
    await queue.consume(ignore, no_ack=True)


@pytest.mark.parametrize(
    ("misuse", "text"),
    [
        (publish_request_without_reply_consumer, "fast reply consumer does not exist"),
        (consume_replies_with_acks, "reply consumer cannot acknowledge"),
        (consume_replies_twice, "reply consumer already set"),
    ],
    ids=["publish-before-consume", "consume-with-acks", "consume-twice"],
)
def test_direct_reply_to_misuse_is_406(
    target: Target, misuse: Callable[[AbstractChannel], Awaitable[None]], text: str
) -> None:
    """Direct reply-to's rules, each broken: the request must come from a channel already
    consuming amq.rabbitmq.reply-to, in no-ack mode, once. RabbitMQ closes the channel with 406."""

    async def scenario() -> None:
        async with connect(target) as connection:
            channel = await connection.channel()
            with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed) as failed:
                await misuse(channel)
            assert failed.value.args[0] == f"PRECONDITION_FAILED - {text}"
            assert channel.is_closed

    run(scenario)


def test_direct_reply_to_pseudo_queue_answers_declare_but_not_get(target: Target) -> None:
    """amq.rabbitmq.reply-to always 'exists' for queue.declare (passive or not), yet it is no
    queue: basic.get on it is 404, and a reply to a key whose channel is gone is unroutable."""

    async def scenario() -> None:
        async with connect(target) as connection:
            channel = await connection.channel()
            for passive in (True, False):
                declared = await channel.declare_queue(DIRECT_REPLY_TO, passive=passive)
                result = declared.declaration_result
                assert (result.queue, result.message_count, result.consumer_count) == (DIRECT_REPLY_TO, 0, 1)

            replies = await channel.get_queue(DIRECT_REPLY_TO, ensure=False)
            await replies.consume(ignore, no_ack=True)
            requests = await channel.declare_queue(exclusive=True)
            await channel.default_exchange.publish(
                aio_pika.Message(b"request", reply_to=DIRECT_REPLY_TO), routing_key=requests.name
            )
            request = await requests.get(no_ack=True, timeout=STEP_SECONDS)
            assert request.reply_to is not None
            await channel.close()

            other = await connection.channel(publisher_confirms=True, on_return_raises=True)
            with pytest.raises(aio_pika.exceptions.DeliveryError) as returned:
                await other.default_exchange.publish(
                    aio_pika.Message(b"too late"), routing_key=request.reply_to
                )
            assert isinstance(returned.value.frame, Basic.Return)
            assert (returned.value.frame.reply_code, returned.value.frame.reply_text) == (312, "NO_ROUTE")

            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as missing:
                await (await other.get_queue(DIRECT_REPLY_TO, ensure=False)).get(no_ack=True)
            assert (
                missing.value.args[0] == f"NOT_FOUND - no queue '{DIRECT_REPLY_TO}' in vhost '{target.vhost}'"
            )

    run(scenario)


# --- Reliability: confirms, returns, errors ----------------------------------------------------------


def test_publisher_confirms_ack_every_publish(target: Target) -> None:
    """With confirms on, each publish resolves to basic.ack once the broker has the message."""

    async def scenario() -> None:
        name = unique("confirmed")
        async with connect(target) as connection:
            channel = await connection.channel(publisher_confirms=True)
            queue = await channel.declare_queue(name, auto_delete=True)
            confirms = await asyncio.gather(
                *(
                    channel.default_exchange.publish(aio_pika.Message(f"m{n}".encode()), routing_key=name)
                    for n in range(50)
                )
            )
            acks = [confirm for confirm in confirms if isinstance(confirm, Basic.Ack)]
            assert len(acks) == 50, confirms
            # The broker may ack several at once (multiple=true): tags are 1..50, the last one acked.
            assert {ack.delivery_tag for ack in acks} <= set(range(1, 51))
            assert max(ack.delivery_tag for ack in acks) == 50
            declared = await channel.declare_queue(name, passive=True)
            assert declared.declaration_result.message_count == 50
            assert await drain(queue) == [f"m{n}".encode() for n in range(50)]

    run(scenario)


def test_mandatory_unroutable_is_returned_with_312(target: Target) -> None:
    """mandatory + no route: basic.return NO_ROUTE (before the confirm); without mandatory the
    message is dropped silently and still confirmed."""

    async def scenario() -> None:
        nowhere = unique("nowhere")
        async with connect(target) as connection:
            raising = await connection.channel(publisher_confirms=True, on_return_raises=True)
            with pytest.raises(aio_pika.exceptions.DeliveryError) as returned:
                await raising.default_exchange.publish(
                    aio_pika.Message(b"lost", message_id="r-1"), routing_key=nowhere, mandatory=True
                )
            frame = returned.value.frame
            assert isinstance(frame, Basic.Return)
            assert (frame.reply_code, frame.reply_text, frame.exchange, frame.routing_key) == (
                312,
                "NO_ROUTE",
                "",
                nowhere,
            )
            dropped = await raising.default_exchange.publish(
                aio_pika.Message(b"dropped"), routing_key=nowhere, mandatory=False
            )
            assert isinstance(dropped, Basic.Ack)

            # aiormq matches a return to its publish through the confirm, so it needs confirms on.
            callback_channel = await connection.channel(publisher_confirms=True, on_return_raises=False)
            returns: list[AbstractIncomingMessage] = []

            def on_return(_channel: Any, message: AbstractIncomingMessage) -> None:
                returns.append(message)

            callback_channel.return_callbacks.add(on_return)
            outcome = await callback_channel.default_exchange.publish(
                aio_pika.Message(b"back to sender", message_id="r-2"), routing_key=nowhere, mandatory=True
            )
            assert isinstance(outcome, aiormq.abc.DeliveredMessage)
            assert isinstance(outcome.delivery, Basic.Return)
            assert outcome.delivery.reply_code == 312
            assert len(returns) == 1
            assert returns[0].body == b"back to sender"
            assert returns[0].message_id == "r-2"
            assert returns[0].routing_key == nowhere

    run(scenario)


def test_redeclare_with_other_properties_is_406_and_closes_only_the_channel(target: Target) -> None:
    """The classic mistake: a second declare that disagrees on durable. RabbitMQ answers 406 with a
    precise text, closes that channel, and the connection carries on."""

    async def scenario() -> None:
        name = unique("inequivalent")
        async with connect(target) as connection:
            channel = await connection.channel()
            await channel.declare_queue(name, durable=False, auto_delete=True)
            with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed) as failed:
                await channel.declare_queue(name, durable=True, auto_delete=True)
            assert failed.value.args[0] == (
                f"PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{name}' in vhost "
                f"'{target.vhost}': received 'true' but current is 'false'"
            )
            assert channel.is_closed

            again = await connection.channel()
            declared = await again.declare_queue(name, passive=True)
            assert declared.declaration_result.message_count == 0

            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as missing:
                await again.declare_exchange(unique("no-such-exchange"), passive=True)
            assert missing.value.args[0].startswith("NOT_FOUND - no exchange 'no-such-exchange-")
            await (await connection.channel()).queue_delete(name)

    run(scenario)


def test_transaction_commit_and_rollback(target: Target) -> None:
    """tx.select: publishes are held until commit; rollback discards them."""

    async def scenario() -> None:
        async with connect(target) as connection:
            observer = await connection.channel()
            queue = await observer.declare_queue(exclusive=True)
            channel = await connection.channel(publisher_confirms=False)
            transaction = channel.transaction()
            await transaction.select()
            await channel.default_exchange.publish(aio_pika.Message(b"rolled back"), routing_key=queue.name)
            await transaction.rollback()
            await channel.default_exchange.publish(aio_pika.Message(b"committed"), routing_key=queue.name)
            await channel.default_exchange.publish(
                aio_pika.Message(b"also committed"), routing_key=queue.name
            )
            held = await observer.declare_queue(queue.name, passive=True)
            assert held.declaration_result.message_count == 0, "published in a transaction, not committed"
            await transaction.commit()
            assert await drain(queue) == [b"committed", b"also committed"]

    run(scenario)


def test_purge_and_conditional_delete(target: Target) -> None:
    """queue.purge and queue.delete report how many ready messages they removed; delete with
    if-empty or if-unused is refused with 406 while the queue has messages or consumers."""

    async def scenario() -> None:
        name = unique("purged")
        async with connect(target) as connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(name)
            for n in range(3):
                await channel.default_exchange.publish(aio_pika.Message(b"%d" % n), routing_key=name)
            purged = await queue.purge()
            assert purged.message_count == 3

            await channel.default_exchange.publish(aio_pika.Message(b"one more"), routing_key=name)
            with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed) as not_empty:
                await queue.delete(if_empty=True)
            assert not_empty.value.args[0] == (
                f"PRECONDITION_FAILED - queue '{name}' in vhost '{target.vhost}' not empty"
            )

            channel = await connection.channel()
            queue = await channel.declare_queue(name, passive=True)
            consumer_tag = await queue.consume(ignore, no_ack=False)
            with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed) as in_use:
                await (await connection.channel()).queue_delete(name, if_unused=True)
            assert (
                in_use.value.args[0]
                == f"PRECONDITION_FAILED - queue '{name}' in vhost '{target.vhost}' in use"
            )

            await queue.cancel(consumer_tag)
            deleted = await (await connection.channel()).queue_delete(name, if_unused=True)
            # Cancelling a consumer does not requeue what it holds: the message is still unacked on
            # its channel, and queue.delete counts only ready messages.
            assert deleted.message_count == 0

    run(scenario)


def test_publish_to_a_missing_exchange_is_404(target: Target) -> None:
    """Publishing to an exchange that does not exist closes the channel with 404 NOT_FOUND; with
    confirms on, the publish itself fails with it."""

    async def scenario() -> None:
        name = unique("missing")
        async with connect(target) as connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(name, ensure=False)
            with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as missing:
                await exchange.publish(aio_pika.Message(b"x"), routing_key="k")
            assert missing.value.args[0] == f"NOT_FOUND - no exchange '{name}' in vhost '{target.vhost}'"
            assert not connection.is_closed

    run(scenario)
