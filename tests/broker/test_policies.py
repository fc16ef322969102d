"""Policies in the core: matching (pattern, apply-to, priority), how a policy meets a queue's own
arguments and an operator policy, what a change does to a queue at once, and validation with
RabbitMQ's words (the comparison with real brokers is tests/conformance/scenarios/policies.py)."""

from __future__ import annotations

import pytest

from rabbitsim.broker import AdminError, Broker, Channel
from tests.broker.conftest import FakeClock


def declare(channel: Channel, name: str, **arguments: object) -> None:
    channel.queue_declare(name, durable=True, arguments=arguments or None)


def test_a_policy_limits_matching_queues_only(broker: Broker, channel: Channel) -> None:
    declare(channel, "jobs.a")
    declare(channel, "other")
    broker.set_policy("/", "cap", "^jobs\\.", {"max-length": 2}, apply_to="queues")
    queues = broker.vhosts["/"].queues
    assert queues["jobs.a"].max_length == 2 and queues["jobs.a"].policy is not None
    assert queues["other"].max_length is None and queues["other"].policy is None
    declare(channel, "jobs.b")  # a queue declared later gets it too
    assert queues["jobs.b"].max_length == 2


def test_a_lower_length_limit_drops_the_head_at_once(broker: Broker, channel: Channel) -> None:
    declare(channel, "q")
    for body in (b"1", b"2", b"3", b"4"):
        channel.basic_publish("", "q", body)
    broker.set_policy("/", "cap", "^q$", {"max-length": 2})
    assert [entry.message.body for entry in broker.vhosts["/"].queues["q"].ready] == [b"3", b"4"]


def test_numbers_take_the_lower_of_policy_and_argument_dead_letter_keys_the_argument(
    broker: Broker, channel: Channel
) -> None:
    declare(channel, "q", **{"x-max-length": 5, "x-message-ttl": 1000, "x-dead-letter-exchange": "mine"})
    broker.set_policy(
        "/", "p", "^q$", {"max-length": 10, "message-ttl": 500, "dead-letter-exchange": "theirs"}
    )
    queue = broker.vhosts["/"].queues["q"]
    assert (queue.max_length, queue.message_ttl, queue.dead_letter_exchange) == (5, 500, "mine")


def test_classic_overflow_argument_wins_quorum_overflow_policy_wins(broker: Broker, channel: Channel) -> None:
    declare(channel, "c", **{"x-max-length": 1, "x-overflow": "reject-publish"})
    declare(channel, "qq", **{"x-queue-type": "quorum", "x-max-length": 1, "x-overflow": "reject-publish"})
    broker.set_policy("/", "p", ".*", {"overflow": "drop-head"})
    queues = broker.vhosts["/"].queues
    assert queues["c"].refuses and not queues["c"].drops_head
    assert queues["qq"].drops_head and not queues["qq"].refuses


def test_highest_priority_wins_and_apply_to_is_honoured(broker: Broker, channel: Channel) -> None:
    declare(channel, "q")
    broker.set_policy("/", "low", ".*", {"max-length": 1}, priority=1)
    broker.set_policy("/", "high", ".*", {"max-length": 9}, priority=5)
    broker.set_policy("/", "quorum-only", ".*", {"max-length": 3}, priority=10, apply_to="quorum_queues")
    queue = broker.vhosts["/"].queues["q"]
    assert queue.policy is not None and queue.policy.name == "high" and queue.max_length == 9
    broker.clear_policy("/", "high")
    assert queue.policy is not None and queue.policy.name == "low" and queue.max_length == 1
    broker.clear_policy("/", "low")
    assert queue.policy is None and queue.max_length is None


def test_operator_policy_merges_with_the_lower_number(broker: Broker, channel: Channel) -> None:
    declare(channel, "q")
    broker.set_policy("/", "p", ".*", {"max-length": 100, "message-ttl": 10})
    broker.set_policy("/", "ops", ".*", {"max-length": 50, "message-ttl": 60000}, operator=True)
    queue = broker.vhosts["/"].queues["q"]
    assert (queue.max_length, queue.message_ttl) == (50, 10)


def test_an_exchange_policy_gives_an_alternate_exchange(broker: Broker, channel: Channel) -> None:
    channel.exchange_declare("front", "direct")
    channel.exchange_declare("spare", "fanout")
    declare(channel, "unrouted")
    channel.queue_bind("unrouted", "spare")
    broker.set_policy("/", "ae", "^front$", {"alternate-exchange": "spare"}, apply_to="exchanges")
    channel.basic_publish("front", "nowhere", b"x")
    assert len(broker.vhosts["/"].queues["unrouted"].ready) == 1


def test_expires_from_a_policy_deletes_an_unused_queue(
    broker: Broker, channel: Channel, clock: FakeClock
) -> None:
    declare(channel, "idle")
    broker.set_policy("/", "gc", "^idle$", {"expires": 1000})
    clock.now = 1.5
    broker.run_due()
    assert "idle" not in broker.vhosts["/"].queues


@pytest.mark.parametrize(
    ("definition", "reason"),
    [
        ({"message-ttl": "abc"}, '<<"abc">> is not a valid message TTL'),
        ({"max-length": -1}, "-1 is not a valid maximum length"),
        ({"overflow": "drop-tail"}, '<<"drop-tail">> is not a valid overflow value'),
        ({"expires": 0}, "0 is not a valid queue expiry"),
        ({"no-such-key": 1}, '[{<<"no-such-key">>,1}] are not recognised policy settings'),
        ({}, "no policy provided"),
    ],
)
def test_validation_refuses_with_rabbitmqs_words(
    broker: Broker, definition: dict[str, object], reason: str
) -> None:
    with pytest.raises(AdminError) as caught:
        broker.set_policy("/", "bad", ".*", definition)
    assert caught.value.kind == AdminError.BAD_REQUEST
    assert caught.value.reason == f"Validation failed\n\n{reason}\n"
    assert broker.vhosts["/"].policies == {}


def test_operator_policies_take_only_their_keys(broker: Broker) -> None:
    with pytest.raises(AdminError) as caught:
        broker.set_policy("/", "ops", ".*", {"dead-letter-exchange": "x"}, operator=True)
    assert "are not recognised policy settings" in caught.value.reason


def test_settings_round_trip_through_definitions(broker: Broker, channel: Channel) -> None:
    broker.add_user("alice", "pw", tags=["monitoring"])
    broker.add_vhost("v")
    broker.set_permissions("alice", "v", "^a", "^b", "^c")
    broker.set_topic_permissions("alice", "v", "amq.topic", "^x", "^y")
    broker.set_policy("v", "p", "^q", {"max-length": 3}, priority=2, apply_to="queues")
    broker.set_policy("v", "o", "^q", {"max-length": 1}, operator=True)
    broker.set_vhost_limits("v", {"max-queues": 7})
    declare(channel, "kept")
    exported = broker.definitions()
    fresh = Broker()
    fresh.import_definitions(exported)
    assert fresh.definitions() == exported
    assert fresh.authenticate("alice", "pw").tags == ("monitoring",)


def test_an_import_stops_at_the_first_refusal_as_rabbitmq_does(broker: Broker) -> None:
    """RabbitMQ applies users, vhosts, permissions, exchanges, policies, parameters, queues and
    bindings in that order and stops at the first error: what came before it stays."""
    document = {
        "users": [{"name": "bob", "password_hash": "", "tags": []}],
        "queues": [{"name": "after", "vhost": "/", "durable": True, "auto_delete": False, "arguments": {}}],
        "policies": [{"vhost": "/", "name": "p", "pattern": ".*", "definition": {"max-length": "many"}}],
    }
    with pytest.raises(AdminError) as caught:
        broker.import_definitions(document)
    assert caught.value.reason == (
        'Validation failed\n\n<<"many">> is not a valid maximum length\n (vhost: "/" key: "p")'
    )
    assert "bob" in broker.users  # before the policy: applied
    assert "after" not in broker.vhosts["/"].queues  # after it: not


def test_an_import_leaves_an_existing_queue_as_it_is(broker: Broker, channel: Channel) -> None:
    declare(channel, "kept")
    broker.import_definitions(
        {"queues": [{"name": "kept", "vhost": "/", "durable": False, "arguments": {"x-max-length": 1}}]}
    )
    assert broker.vhosts["/"].queues["kept"].durable and broker.vhosts["/"].queues["kept"].max_length is None


@pytest.mark.parametrize("broker", ["3.10"], indirect=True)
def test_3_10_reports_an_unknown_exchange_type_as_an_erlang_term(broker: Broker) -> None:
    with pytest.raises(AdminError) as caught:
        broker.import_definitions({"exchanges": [{"name": "x", "vhost": "/", "type": "nosuch"}]})
    text = "unknown exchange type 'nosuch'"
    assert caught.value.term == ["amqp_error", "command_invalid", [ord(c) for c in text], "none"]
