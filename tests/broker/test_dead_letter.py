"""Dead-letter exchanges: what leaves a queue rejected, expired, over a length limit or over a
quorum delivery limit is republished to `x-dead-letter-exchange`, with `x-death`. Every value
below was measured with pika on RabbitMQ 3.10.8 and 4.0.5; where they differ (`x-last-death-*`,
the key order of an entry, whether a client's or a republished `x-death` is continued), both
profiles are checked."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from rabbitsim.broker import Broker, Channel, EventKind, GetOk, Long, Properties, TraceEvent
from tests.broker.conftest import FakeClock, record_events

WALL = 1_700_000_000.0  # what the wall clock says in these tests
WHEN = datetime.datetime.fromtimestamp(WALL, datetime.UTC)
PROFILES = ("3.10", "4.0", "4.3")


def make_channel(profile: str, clock: FakeClock | None = None) -> Channel:
    broker = Broker(clock=clock or FakeClock(), profile=profile, wall_clock=lambda: WALL)
    return broker.connect().open_channel(1)


def with_dead_queue(channel: Channel, kind: str = "fanout", key: str = "") -> None:
    """Exchange `dlx` -> queue `dead`."""
    channel.exchange_declare("dlx", kind)
    channel.queue_declare("dead")
    channel.queue_bind("dead", "dlx", key)


def get(channel: Channel, queue: str) -> GetOk:
    got = channel.basic_get(queue, no_ack=True)
    assert got is not None, f"nothing in {queue}"
    return got


def reject_from(channel: Channel, queue: str, *, requeue: bool = False) -> None:
    got = channel.basic_get(queue)
    assert got is not None
    channel.basic_reject(got.delivery_tag, requeue=requeue)


def headers(got: GetOk) -> dict[str, Any]:
    return dict(got.message.properties.headers or {})


def death(
    reason: str, queue: str, *, count: int = 1, exchange: str = "", keys: list[str] | None = None
) -> dict[str, Any]:
    return {
        "count": count,
        "reason": reason,
        "queue": queue,
        "time": WHEN,
        "exchange": exchange,
        "routing-keys": keys or [queue],
    }


def death_headers(profile: str, reason: str, queue: str, exchange: str = "") -> dict[str, Any]:
    """The headers a first death adds: x-first-death-*, and on 4.0 x-last-death-* too."""
    first = {"x-first-death-exchange": exchange, "x-first-death-queue": queue, "x-first-death-reason": reason}
    if profile == "3.10":
        return first
    return {
        **first,
        "x-last-death-exchange": exchange,
        "x-last-death-queue": queue,
        "x-last-death-reason": reason,
    }


# --- what a dead letter looks like -------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_a_rejected_message_keeps_its_properties_but_expiration(profile: str) -> None:
    channel = make_channel(profile)
    with_dead_queue(channel)
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    sent = Properties(
        headers={"h": 1},
        delivery_mode=2,
        priority=3,
        message_id="mid",
        timestamp=1_700_000_000,
        content_type="text/plain",
        correlation_id="c",
        reply_to="rt",
        message_type="t",
        app_id="a",
        expiration="600000",
    )
    channel.basic_publish("", "work", b"r", sent)
    reject_from(channel, "work")
    got = get(channel, "dead")
    assert (got.exchange, got.routing_key, got.redelivered, got.message.body) == ("dlx", "work", False, b"r")
    kept = got.message.properties
    assert (kept.delivery_mode, kept.priority, kept.message_id, kept.reply_to, kept.expiration) == (  # type: ignore[attr-defined]
        2,
        3,
        "mid",
        "rt",
        None,
    )
    assert headers(got) == {
        "h": 1,
        "x-death": [{**death("rejected", "work"), "original-expiration": "600000"}],
        **death_headers(profile, "rejected", "work"),
    }


@pytest.mark.parametrize(
    ("profile", "entry_keys"),
    [
        ("3.10", ["count", "reason", "queue", "time", "exchange", "routing-keys", "original-expiration"]),
        ("4.0", ["original-expiration", "count", "reason", "queue", "time", "exchange", "routing-keys"]),
    ],
)
def test_headers_are_sorted_and_an_entry_keeps_rabbitmqs_key_order(
    profile: str, entry_keys: list[str]
) -> None:
    channel = make_channel(profile)
    with_dead_queue(channel)
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    channel.basic_publish(
        "", "work", b"m", Properties(headers={"z": 1, "a": 2, "CC-like": 3}, expiration="9000")
    )
    reject_from(channel, "work")
    found = headers(get(channel, "dead"))
    assert list(found) == sorted(found)
    assert list(found["x-death"][0]) == entry_keys


@pytest.mark.parametrize("profile", PROFILES)
def test_the_count_is_a_64_bit_long(profile: str) -> None:
    channel = make_channel(profile)
    channel.queue_declare("dead")
    channel.queue_declare(
        "work", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"}
    )
    channel.basic_publish("", "work", b"m")
    reject_from(channel, "work")
    count = headers(get(channel, "dead"))["x-death"][0]["count"]
    assert type(count) is Long and count == 1


@pytest.mark.parametrize("profile", PROFILES)
def test_dead_letter_routing_key_and_the_default_exchange(profile: str) -> None:
    channel = make_channel(profile)
    channel.queue_declare("dead")
    channel.queue_declare(
        "work", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dead"}
    )
    channel.basic_publish("", "work", b"m1")
    got = channel.basic_get("work")
    assert got is not None
    channel.basic_nack(got.delivery_tag, requeue=False)
    dead = get(channel, "dead")
    assert (dead.exchange, dead.routing_key) == ("", "dead")
    assert headers(dead)["x-death"] == [death("rejected", "work")]  # the key it had, not the new one


@pytest.mark.parametrize("profile", PROFILES)
def test_the_entry_names_the_exchange_and_key_it_was_published_with(profile: str) -> None:
    channel = make_channel(profile)
    channel.exchange_declare("src", "topic")
    with_dead_queue(channel, "direct", "a.b")
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    channel.queue_bind("work", "src", "a.*")
    channel.basic_publish("src", "a.b", b"m")
    reject_from(channel, "work")
    got = get(channel, "dead")
    assert (got.exchange, got.routing_key) == ("dlx", "a.b")
    assert headers(got) == {
        "x-death": [death("rejected", "work", exchange="src", keys=["a.b"])],
        **death_headers(profile, "rejected", "work", "src"),
    }


@pytest.mark.parametrize("profile", PROFILES)
def test_expired_messages_say_so_and_keep_their_original_expiration(profile: str) -> None:
    channel = make_channel(profile)
    with_dead_queue(channel)
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx", "x-message-ttl": 0})
    channel.basic_publish("", "work", b"queue-ttl")
    channel.basic_publish("", "work", b"message-ttl", Properties(expiration="5000"))
    first, second = get(channel, "dead"), get(channel, "dead")
    assert headers(first)["x-death"] == [death("expired", "work")]
    assert headers(second)["x-death"] == [{**death("expired", "work"), "original-expiration": "5000"}]
    assert second.message.properties.expiration is None


@pytest.mark.parametrize("profile", PROFILES)
def test_a_dead_letter_into_a_queue_without_ttl_stays(profile: str) -> None:
    clock = FakeClock()
    channel = make_channel(profile, clock)
    channel.queue_declare("b")
    channel.queue_declare("a", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "b"})
    channel.basic_publish("", "a", b"m", Properties(expiration="50"))
    clock.now = 0.3
    assert channel.queue_declare("b", passive=True).message_count == 1
    clock.now = 1000.0
    assert channel.queue_declare("b", passive=True).message_count == 1


@pytest.mark.parametrize("profile", PROFILES)
def test_overflow_dead_letters_the_dropped_head_as_maxlen(profile: str) -> None:
    channel = make_channel(profile)
    with_dead_queue(channel)
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx", "x-max-length": 1})
    for body in (b"m1", b"m2", b"m3"):
        channel.basic_publish("", "work", body)
    dead = [get(channel, "dead") for _ in range(2)]
    assert [got.message.body for got in dead] == [b"m1", b"m2"]
    assert [got.message_count for got in dead] == [1, 0]
    assert headers(dead[0])["x-death"] == [death("maxlen", "work")]
    assert get(channel, "work").message.body == b"m3"


@pytest.mark.parametrize("profile", PROFILES)
def test_a_quorum_message_over_its_delivery_limit_is_dead_lettered(profile: str) -> None:
    channel = make_channel(profile)
    with_dead_queue(channel)
    arguments = {"x-queue-type": "quorum", "x-delivery-limit": 1, "x-dead-letter-exchange": "dlx"}
    channel.queue_declare("qq", durable=True, arguments=arguments)
    channel.basic_publish("", "qq", b"m", Properties(expiration="100000"))
    for _ in range(2):
        got = channel.basic_get("qq")
        assert got is not None
        channel.basic_reject(got.delivery_tag, requeue=True)  # 4.3 counts a reject, not a nack
    dead = get(channel, "dead")
    assert headers(dead) == {
        "x-death": [{**death("delivery_limit", "qq"), "original-expiration": "100000"}],
        **death_headers(profile, "delivery_limit", "qq"),
    }


@pytest.mark.parametrize("profile", PROFILES)
def test_nack_multiple_dead_letters_in_order(profile: str) -> None:
    channel = make_channel(profile)
    with_dead_queue(channel)
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    for body in (b"m1", b"m2", b"m3"):
        channel.basic_publish("", "work", body)
    tags = []
    for _ in range(3):
        got = channel.basic_get("work")
        assert got is not None
        tags.append(got.delivery_tag)
    channel.basic_nack(tags[-1], multiple=True, requeue=False)
    assert [get(channel, "dead").message.body for _ in range(3)] == [b"m1", b"m2", b"m3"]


# --- histories ---------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_deaths_pile_up_newest_first_and_a_repeat_counts_up(profile: str) -> None:
    """a -> (reject) -> b -> (reject) -> a -> (reject) -> b: the entry for a counts 2 and
    comes first again; the first-death headers stay, 4.0's last-death headers follow."""
    clock = FakeClock()
    channel = make_channel(profile, clock)
    channel.queue_declare("a", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "b"})
    channel.queue_declare("b", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "a"})
    channel.basic_publish("", "a", b"m")
    reject_from(channel, "a")
    reject_from(channel, "b")
    reject_from(channel, "a")
    got = get(channel, "b")
    found = headers(got)
    assert found["x-death"] == [death("rejected", "a", count=2), death("rejected", "b")]
    assert (found["x-first-death-queue"], found.get("x-last-death-queue")) == (
        "a",
        None if profile == "3.10" else "a",
    )
    # 3.10 rewrites a changed entry with sorted keys; 4.0 keeps its own order
    assert list(found["x-death"][0]) == (
        sorted(found["x-death"][0])
        if profile == "3.10"
        else ["count", "reason", "queue", "time", "exchange", "routing-keys"]
    )


def test_a_repeat_keeps_the_time_of_the_first() -> None:
    wall = [WALL]
    broker = Broker(profile="4.0", wall_clock=lambda: wall[0])
    channel = broker.connect().open_channel(1)
    channel.queue_declare("self", arguments={"x-dead-letter-exchange": ""})
    channel.basic_publish("", "self", b"m")
    reject_from(channel, "self")
    wall[0] += 5
    reject_from(channel, "self")
    entry = headers(get(channel, "self"))["x-death"][0]
    assert (entry["count"], entry["time"]) == (2, WHEN)


@pytest.mark.parametrize(("profile", "count"), [("3.10", 2), ("4.0", 1)])
def test_a_republished_dead_letter_counts_on_in_3_10_only(profile: str, count: int) -> None:
    """A consumer of the dead-letter queue publishes the message again, headers and all:
    3.10 continues its x-death; 4.0 keeps deaths inside the broker, so it starts afresh."""
    channel = make_channel(profile)
    with_dead_queue(channel)
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    channel.basic_publish("", "work", b"m")
    reject_from(channel, "work")
    first = get(channel, "dead")
    channel.basic_publish("", "work", first.message.body, first.message.properties)
    reject_from(channel, "work")
    second = headers(get(channel, "dead"))
    assert [entry["count"] for entry in second["x-death"]] == [count]


@pytest.mark.parametrize("profile", PROFILES)
def test_a_clients_own_x_death(profile: str) -> None:
    """3.10 continues a client-written x-death (and then adds no x-first-death headers);
    4.0 replaces it, and its x-first/last-death headers too."""
    channel = make_channel(profile)
    with_dead_queue(channel)
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    elsewhere = {
        "count": 5,
        "queue": "elsewhere",
        "reason": "expired",
        "exchange": "",
        "routing-keys": ["k"],
        "time": WHEN,
    }
    channel.basic_publish(
        "", "work", b"m", Properties(headers={"x-death": [elsewhere], "x-last-death-queue": "lq"})
    )
    reject_from(channel, "work")
    found = headers(get(channel, "dead"))
    new = death("rejected", "work")
    if profile == "3.10":
        assert found == {"x-death": [dict(sorted(new.items())), elsewhere], "x-last-death-queue": "lq"}
    else:
        assert found == {"x-death": [new], **death_headers("4.0", "rejected", "work")}


# --- cycles and dead ends ----------------------------------------------------------------------


@pytest.mark.parametrize("profile", PROFILES)
def test_an_automatic_cycle_is_cut(profile: str) -> None:
    """Expiring back into the queue it came from, directly or through another, drops the
    message (RabbitMQ logs it); a rejection in the cycle is a client's choice and goes on."""
    clock = FakeClock()
    channel = make_channel(profile, clock)
    recorded = record_events(channel.broker)
    channel.queue_declare("self", arguments={"x-dead-letter-exchange": "", "x-message-ttl": 100})
    channel.basic_publish("", "self", b"m")
    clock.now = 0.1
    assert channel.queue_declare("self", passive=True).message_count == 0
    assert [e.detail["reason"] for e in recorded if e.kind is EventKind.DROP] == ["dead-letter-cycle"]

    for name, other in (("a", "b"), ("b", "a")):
        channel.queue_declare(
            name,
            arguments={
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": other,
                "x-message-ttl": 100,
            },
        )
    channel.basic_publish("", "a", b"m")
    clock.now = 0.25
    assert channel.queue_declare("b", passive=True).message_count == 1
    clock.now = 0.4  # back from b to a: a cycle of expiries only
    assert channel.queue_declare("a", passive=True).message_count == 0
    assert channel.queue_declare("b", passive=True).message_count == 0


@pytest.mark.parametrize("profile", PROFILES)
def test_a_rejection_breaks_the_cycle(profile: str) -> None:
    clock = FakeClock()
    channel = make_channel(profile, clock)
    channel.queue_declare(
        "a", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "b", "x-message-ttl": 50}
    )
    channel.queue_declare("b", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "a"})
    channel.basic_publish("", "a", b"m")
    seen = []
    for step in range(3):
        clock.now += 0.05
        got = channel.basic_get("b")
        assert got is not None, f"lost at step {step}"
        seen.append([(entry["queue"], entry["reason"], entry["count"]) for entry in headers(got)["x-death"]])
        channel.basic_reject(got.delivery_tag, requeue=False)
    assert seen == [
        [("a", "expired", 1)],
        [("a", "expired", 2), ("b", "rejected", 1)],
        [("a", "expired", 3), ("b", "rejected", 2)],
    ]


def test_a_missing_dead_letter_exchange_drops_the_message(
    broker: Broker, channel: Channel, events: list[TraceEvent]
) -> None:
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "nope"})
    channel.basic_publish("", "work", b"m")
    reject_from(channel, "work")
    assert channel.is_open and channel.queue_declare("work", passive=True).message_count == 0
    drop = [event for event in events if event.kind is EventKind.DROP]
    assert [(d.detail["reason"], d.detail.get("dead_letter_exchange")) for d in drop] == [
        ("rejected", "nope")
    ]


def test_a_dead_letter_that_routes_nowhere_is_dropped_at_the_exchange(
    channel: Channel, events: list[TraceEvent]
) -> None:
    channel.exchange_declare("dlx", "direct")
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    channel.basic_publish("", "work", b"m", mandatory=True)
    reject_from(channel, "work")
    drop = next(event for event in events if event.kind is EventKind.DROP)
    assert (drop.source, drop.detail["reason"]) == (channel.vhost.exchanges["dlx"].node, "unroutable")


def test_an_alternate_exchange_catches_a_dead_letter(channel: Channel) -> None:
    channel.exchange_declare("ae", "fanout")
    channel.queue_declare("caught")
    channel.queue_bind("caught", "ae")
    channel.exchange_declare("dlx", "direct", arguments={"alternate-exchange": "ae"})
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    channel.basic_publish("", "work", b"m")
    reject_from(channel, "work")
    got = get(channel, "caught")
    assert (got.exchange, got.routing_key) == ("dlx", "work")


def test_purge_and_delete_do_not_dead_letter(channel: Channel) -> None:
    with_dead_queue(channel)
    for name in ("purged", "deleted"):
        channel.queue_declare(name, arguments={"x-dead-letter-exchange": "dlx"})
        channel.basic_publish("", name, b"m")
    channel.queue_purge("purged")
    channel.queue_delete("deleted")
    assert channel.queue_declare("dead", passive=True).message_count == 0


def test_a_reject_after_the_queue_was_deleted_is_not_dead_lettered(channel: Channel) -> None:
    with_dead_queue(channel)
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    channel.basic_publish("", "work", b"m")
    got = channel.basic_get("work")
    assert got is not None
    channel.connection.open_channel(2).queue_delete("work")
    channel.basic_reject(got.delivery_tag, requeue=False)
    assert channel.queue_declare("dead", passive=True).message_count == 0


# --- the trace ----------------------------------------------------------------------------------


def test_the_trace_follows_the_message_from_its_queue_through_the_exchange(
    channel: Channel, events: list[TraceEvent]
) -> None:
    with_dead_queue(channel)
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx"})
    channel.basic_publish("", "work", b"m")
    del events[:]
    reject_from(channel, "work")
    flow = [
        (e.kind, str(e.source), str(e.target) if e.target else None, e.message) for e in events if e.message
    ]
    assert flow[1:] == [
        (EventKind.REJECT, "queue:work", "channel:connection-1#1:connection-1#1", 1),
        (EventKind.DEAD_LETTER, "queue:work", "exchange:dlx", 1),
        (EventKind.ROUTE, "exchange:dlx", "queue:dead", 1),
        (EventKind.ENQUEUE, "queue:dead", None, 1),
    ]
    dead_letter = next(event for event in events if event.kind is EventKind.DEAD_LETTER)
    assert (dead_letter.routing_key, dead_letter.detail["reason"]) == ("work", "rejected")


def test_an_expired_dead_letter_is_expire_then_dead_letter(
    channel: Channel, events: list[TraceEvent]
) -> None:
    with_dead_queue(channel)
    channel.queue_declare("work", arguments={"x-dead-letter-exchange": "dlx", "x-message-ttl": 0})
    channel.basic_publish("", "work", b"m")
    kinds = [event.kind for event in events if event.message is not None]
    assert kinds[-5:] == [
        EventKind.ENQUEUE,
        EventKind.EXPIRE,
        EventKind.DEAD_LETTER,
        EventKind.ROUTE,
        EventKind.ENQUEUE,
    ]
