"""Users, permissions, topic permissions and limits in the core: every operation RabbitMQ checks,
with its reply codes and texts (rabbit_channel, rabbit_access_control; the wire-level comparison
with real brokers is in tests/conformance/scenarios/access.py)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest

from rabbitsim.broker import (
    AdminError,
    Broker,
    Channel,
    ChannelError,
    ConnectionClosed,
    ConnectionError,
    hash_password,
)


def user_channel(broker: Broker, configure: str, write: str, read: str, *, vhost: str = "/") -> Channel:
    broker.add_user("u", "secret")
    broker.set_permissions("u", vhost, configure, write, read)
    return broker.connect(vhost, "u").open_channel(1)


def refused(action: Callable[[], object]) -> tuple[int, str]:
    with pytest.raises((ChannelError, ConnectionError)) as caught:
        action()
    return caught.value.reply_code, caught.value.reply_text


def test_password_hash_is_rabbitmqs_salted_sha256() -> None:
    salt = b"\x01\x02\x03\x04"
    stored = base64.b64decode(hash_password("secret", salt))
    assert stored[:4] == salt
    assert stored[4:] == hashlib.sha256(salt + b"secret").digest()


def test_login_checks_the_hash_and_a_changed_password(broker: Broker) -> None:
    broker.add_user("u", "one")
    assert broker.authenticate("u", "one").name == "u"
    broker.change_password("u", "two")
    assert refused(lambda: broker.authenticate("u", "one"))[0] == 403
    assert broker.authenticate("u", "two").name == "u"
    broker.clear_password("u")
    assert refused(lambda: broker.authenticate("u", ""))[0] == 403


def test_a_hash_from_definitions_logs_in(broker: Broker) -> None:
    broker.add_user("v", None, password_hash=hash_password("pw", b"abcd"))
    assert broker.authenticate("v", "pw").name == "v"


def test_guest_only_from_loopback_but_other_users_from_anywhere(broker: Broker) -> None:
    code, text = refused(lambda: broker.authenticate("guest", "guest", from_loopback=False))
    assert (code, text) == (
        403,
        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the "
        "broker logfile.",
    )
    broker.add_user("u", "pw")
    assert broker.authenticate("u", "pw", from_loopback=False).name == "u"


def test_no_permissions_in_a_vhost_is_530_at_open(broker: Broker) -> None:
    broker.add_user("u", "pw")
    assert refused(lambda: broker.connect("/", "u")) == (
        530,
        "NOT_ALLOWED - access to vhost '/' refused for user 'u'",
    )


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (lambda ch: ch.queue_declare("q"), "configure access to queue 'q' in vhost '/' refused for user 'u'"),
        (
            lambda ch: ch.exchange_declare("x", "fanout"),
            "configure access to exchange 'x' in vhost '/' refused for user 'u'",
        ),
        (
            lambda ch: ch.queue_delete("q0"),
            "configure access to queue 'q0' in vhost '/' refused for user 'u'",
        ),
        (
            lambda ch: ch.exchange_delete("x0"),
            "configure access to exchange 'x0' in vhost '/' refused for user 'u'",
        ),
    ],
)
def test_configure_is_checked(broker: Broker, action: Callable[[Channel], object], expected: str) -> None:
    channel = user_channel(broker, "^$", ".*", ".*")
    assert refused(lambda: action(channel)) == (403, "ACCESS_REFUSED - " + expected)


def test_publish_needs_write_on_the_exchange_before_it_is_looked_up(broker: Broker) -> None:
    channel = user_channel(broker, ".*", "^nothing$", ".*")
    assert refused(lambda: channel.basic_publish("missing", "k", b"")) == (
        403,
        "ACCESS_REFUSED - write access to exchange 'missing' in vhost '/' refused for user 'u'",
    )
    channel = user_channel(broker, ".*", "^nothing$", ".*")
    assert refused(lambda: channel.basic_publish("", "k", b"")) == (
        403,
        "ACCESS_REFUSED - write access to exchange 'amq.default' in vhost '/' refused for user 'u'",
    )


def test_consume_get_and_purge_need_read(broker: Broker) -> None:
    broker.connect().open_channel(1).queue_declare("jobs")
    for action in (
        lambda ch: ch.basic_consume("jobs"),
        lambda ch: ch.basic_get("jobs"),
        lambda ch: ch.queue_purge("jobs"),
    ):
        channel = user_channel(broker, ".*", ".*", "^other$")
        assert refused(lambda channel=channel, action=action: action(channel)) == (
            403,
            "ACCESS_REFUSED - read access to queue 'jobs' in vhost '/' refused for user 'u'",
        )


def test_bind_needs_write_on_the_queue_then_read_on_the_exchange(broker: Broker) -> None:
    admin = broker.connect().open_channel(1)
    admin.queue_declare("q")
    admin.exchange_declare("logs", "fanout")
    channel = user_channel(broker, ".*", "^$", ".*")
    assert refused(lambda: channel.queue_bind("q", "logs")) == (
        403,
        "ACCESS_REFUSED - write access to queue 'q' in vhost '/' refused for user 'u'",
    )
    channel = user_channel(broker, ".*", "^q$", "^$")
    assert refused(lambda: channel.queue_bind("q", "logs")) == (
        403,
        "ACCESS_REFUSED - read access to exchange 'logs' in vhost '/' refused for user 'u'",
    )
    channel = user_channel(broker, ".*", "^q$", "^logs$")
    channel.queue_bind("q", "logs")
    assert len(broker.vhosts["/"].exchanges["logs"].outgoing) == 1


def test_dead_letter_exchange_needs_write_on_the_exchange_then_read_on_the_queue(broker: Broker) -> None:
    channel = user_channel(broker, ".*", "^q$", ".*")
    assert refused(lambda: channel.queue_declare("q", arguments={"x-dead-letter-exchange": "dlx"})) == (
        403,
        "ACCESS_REFUSED - write access to exchange 'dlx' in vhost '/' refused for user 'u'",
    )


def test_permissions_are_searched_not_anchored_and_empty_means_nothing(broker: Broker) -> None:
    channel = user_channel(broker, "ob", "", "")
    channel.queue_declare("jobs")  # "ob" is found inside "jobs"
    assert refused(lambda: channel.queue_declare("queue"))[0] == 403


def test_a_grant_applies_to_new_channels_and_a_channel_keeps_what_it_used(broker: Broker) -> None:
    channel = user_channel(broker, "^used$", "^$", "^$")
    channel.queue_declare("used")
    broker.set_permissions("u", "/", "^$", "^$", "^$")  # revoked: the channel remembers its grant
    channel.queue_declare("used")
    assert refused(lambda: channel.queue_declare("other"))[0] == 403
    broker.set_permissions("u", "/", ".*", ".*", ".*")
    fresh = channel.connection.open_channel(2)  # same connection, new channel: sees the grant
    fresh.queue_declare("other")


def test_topic_permissions_on_publish_and_bind(broker: Broker) -> None:
    admin = broker.connect().open_channel(1)
    admin.exchange_declare("events", "topic")
    admin.queue_declare("mine")
    broker.add_user("u", "pw")
    broker.set_permissions("u", "/", ".*", ".*", ".*")
    broker.set_topic_permissions("u", "/", "events", "^{username}\\.", "^public\\.")
    channel = broker.connect("/", "u").open_channel(1)
    channel.basic_publish("events", "u.created", b"")
    assert refused(lambda: channel.basic_publish("events", "other.created", b"")) == (
        403,
        "ACCESS_REFUSED - write access to topic 'other.created' in exchange 'events' in vhost '/' "
        "refused for user 'u'",
    )
    channel = broker.connect("/", "u").open_channel(1)
    channel.queue_bind("mine", "events", "public.#")
    assert refused(lambda: channel.queue_bind("mine", "events", "private.#"))[1].startswith(
        "ACCESS_REFUSED - read access to topic 'private.#' in exchange 'events'"
    )


def test_admin_refuses_unknown_users_vhosts_and_bad_regexes(broker: Broker) -> None:
    with pytest.raises(AdminError) as caught:
        broker.set_permissions("nobody", "/", ".*", ".*", ".*")
    assert caught.value.kind == AdminError.NOT_FOUND
    broker.add_user("u", "pw")
    with pytest.raises(AdminError) as caught:
        broker.set_permissions("u", "nowhere", ".*", ".*", ".*")
    assert caught.value.kind == AdminError.NOT_FOUND
    with pytest.raises(AdminError) as caught:
        broker.set_permissions("u", "/", "(", ".*", ".*")
    assert caught.value.kind == AdminError.BAD_REQUEST
    assert ("u", "/") not in broker.permissions


def test_deleting_a_vhost_closes_its_connections_and_drops_its_queues(broker: Broker) -> None:
    broker.add_vhost("v")
    broker.set_permissions("guest", "v", ".*", ".*", ".*")
    inside = broker.connect("v")
    inside.open_channel(1).queue_declare("q", durable=True)
    outside = broker.connect("/")
    broker.take_output()
    broker.delete_vhost("v")
    told = [(c.name, item) for c, _n, item in broker.take_output() if c is not None]
    assert [(name, type(item)) for name, item in told] == [(inside.name, ConnectionClosed)]
    error = told[0][1].error  # type: ignore[union-attr]
    assert (error.reply_code, error.reply_text) == (320, "CONNECTION_FORCED - vhost 'v' is deleted")
    assert "v" not in broker.vhosts and not inside.is_open and outside.is_open
    assert ("guest", "v") not in broker.permissions


def test_deleting_a_user_closes_its_connections(broker: Broker) -> None:
    channel = user_channel(broker, ".*", ".*", ".*")
    broker.take_output()
    broker.delete_user("u")
    assert not channel.connection.is_open
    assert ("u", "/") not in broker.permissions


def test_vhost_and_user_limits(broker: Broker) -> None:
    broker.set_vhost_limits("/", {"max-connections": 1, "max-queues": 1})
    first = broker.connect().open_channel(1)
    assert refused(lambda: broker.connect()) == (
        530,
        "NOT_ALLOWED - access to vhost '/' refused for user 'guest': connection limit (1) is reached",
    )
    first.queue_declare("one")
    assert refused(lambda: first.queue_declare("two")) == (
        406,
        "PRECONDITION_FAILED - cannot declare queue 'two': queue limit in vhost '/' (1) is reached",
    )
    broker.clear_vhost_limits("/")
    broker.add_user("u", "pw")
    broker.set_permissions("u", "/", ".*", ".*", ".*")
    broker.set_user_limits("u", {"max-channels": 1})
    connection = broker.connect("/", "u")
    connection.open_channel(1)
    assert refused(lambda: connection.open_channel(2)) == (
        530,
        "NOT_ALLOWED - number of channels opened for user 'u' has reached the maximum allowed "
        "user limit of 1",
    )


def test_guest_default_state_matches_a_fresh_rabbitmq(broker: Broker) -> None:
    settings = broker.settings()
    assert [u["name"] for u in settings["users"]] == ["guest"]
    assert settings["users"][0]["tags"] == ["administrator"]
    assert settings["permissions"] == [
        {"user": "guest", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
    ]


@pytest.mark.parametrize("broker", ["3.10"], indirect=True)
def test_3_10_does_not_name_the_permission(broker: Broker) -> None:
    channel = user_channel(broker, "^$", ".*", ".*")
    assert refused(lambda: channel.queue_declare("q")) == (
        403,
        "ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'u'",
    )


def test_4_3_checks_passive_declares(broker: Broker) -> None:
    broker.connect().open_channel(1).queue_declare("q")
    channel = user_channel(broker, "^$", "^$", "^q$")
    channel.queue_declare("q", passive=True)  # any permission will do
    channel = user_channel(broker, "^$", "^$", "^$")
    assert refused(lambda: channel.queue_declare("q", passive=True)) == (
        403,
        "ACCESS_REFUSED - configure access to queue 'q' in vhost '/' refused for user 'u'",
    )
