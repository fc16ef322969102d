"""Access control: logins, vhost access, configure/write/read permissions on every operation
RabbitMQ checks, topic permissions, vhost deletion, connection/queue/channel limits, and the
management API's answers to bad input and to users who may not use it. Users, vhosts and
permissions are made through the management API with the run's prefix; the janitor deletes them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pika.adapters.blocking_connection import BlockingChannel

from tests.conformance.harness import (
    WAIT,
    Context,
    attempt,
    new_channel_step,
    non_loopback_address,
    quoted,
    scenario,
    step,
    wait_connection_closed,
)

Op = Callable[[BlockingChannel], object]


def fence(channel: BlockingChannel) -> None:
    """A synchronous call no permission governs (basic.qos): a refusal of an earlier publish has
    arrived once it is answered. (The harness's fence, a passive exchange.declare, needs some
    permission on amq.direct since RabbitMQ 4.3.)"""
    channel.basic_qos(prefetch_count=0)


def login(ctx: Context, **kw: Any) -> Any:
    """ "connected", or the refusal of the connection."""
    return attempt(lambda: ctx.connect(**kw) and "connected")


def vhost_closed(refusal: Any, vhost: str) -> Any:
    """A connection closed by a vhost's deletion: RabbitMQ 4.x says "is deleted" or, when its
    vhost supervisor wins the race, "is down"; both are reported as the first."""
    deleted = f"CONNECTION_FORCED - vhost '{vhost}' is deleted"
    if isinstance(refusal, tuple) and refusal[2] == f"CONNECTION_FORCED - vhost '{vhost}' is down":
        return (*refusal[:2], deleted)
    return refusal


def login_until(ctx: Context, **kw: Any) -> Any:
    """Connect, retrying while refused (RabbitMQ forgets a closed connection asynchronously)."""
    deadline = time.monotonic() + WAIT
    while True:
        result = login(ctx, **kw)
        if result == "connected" or time.monotonic() >= deadline:
            return result
        time.sleep(0.05)


# --- logins and vhost access ---------------------------------------------------------------


@scenario
def login_wrong_password_and_unknown_user(ctx: Context) -> Any:
    """A wrong password and an unknown user are refused alike (403 at login), the right one is not."""
    vhost, user = ctx.account()
    return {
        "right": login(ctx, user=user, password="secret", vhost=vhost),
        "wrong-password": login(ctx, user=user, password="not-it", vhost=vhost),
        "unknown-user": login(ctx, user=ctx.name("nobody"), password="secret", vhost=vhost),
        "empty-password": login(ctx, user=user, password="", vhost=vhost),
    }


LOGIN_REFUSED = (
    "connection-closed",
    403,
    "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
    "For details see the broker logfile.",
)


def _guest(refused: bool) -> dict[str, Any]:
    return {
        "guest-loopback": "connected",
        "guest-non-loopback-peer": LOGIN_REFUSED if refused else "connected",
        "user-non-loopback-peer": "connected",
    }


@scenario(expect={"3.10": _guest(False), "4.0": _guest(False), "4.3": _guest(True)})
def guest_is_refused_from_a_non_loopback_address(ctx: Context) -> Any:
    """`guest` may log in only over loopback (loopback_users); another user may from anywhere. The
    connection comes from this machine's non-loopback address (a relay bound to it) to the
    broker's loopback address: 3.10 and 4.0 judge by the address the broker was reached at
    (loopback: allowed), 4.3 by the peer's (refused)."""
    source = non_loopback_address()
    if source is None:
        raise AssertionError("this machine has no non-loopback IPv4 address to connect from")
    vhost, user = ctx.account()
    return {
        "guest-loopback": login(ctx),
        "guest-non-loopback-peer": login(ctx, source=source),
        "user-non-loopback-peer": login(ctx, user=user, password="secret", vhost=vhost, source=source),
    }


@scenario
def vhost_access_refusals(ctx: Context) -> Any:
    """A missing vhost and a vhost the user has no permissions in are both 530, with different
    texts; permissions in one vhost give nothing in another."""
    vhost, user = ctx.account()
    other = ctx.vhost("other")
    return {
        "permitted": login(ctx, user=user, password="secret", vhost=vhost),
        "missing-vhost": login(ctx, user=user, password="secret", vhost=ctx.name("missing")),
        "no-permissions": login(ctx, user=user, password="secret", vhost=other),
        "guest-missing-vhost": login(ctx, vhost=ctx.name("missing")),
    }


@scenario
def vhost_created_over_http_permits_its_creator(ctx: Context) -> Any:
    """Creating a vhost through the management API gives the creating user full permissions in it
    (the administrator can connect without set_permissions); other users get none."""
    vhost = ctx.vhost(permit_admin=False)
    user = ctx.user()
    listed = ctx.http("GET", f"vhosts/{quoted(vhost)}/permissions")
    perms = sorted(
        (p["user"], p["configure"], p["write"], p["read"]) for p in listed["body"] if isinstance(p, dict)
    )
    return {
        "admin": login(ctx, vhost=vhost),
        "user": login(ctx, user=user, password="secret", vhost=vhost),
        "permissions": perms,
    }


def _passive(refused: bool) -> dict[str, Any]:
    def one(kind: str, name: str) -> Any:
        text = (
            f"ACCESS_REFUSED - configure access to {kind} '~{name}' in vhost '~vh' refused for user '~none'"
        )
        return ("channel-closed", 403, text) if refused else "ok"

    ok = {"queue": "ok", "exchange": "ok"}
    return {
        "none": {"queue": one("queue", "q"), "exchange": one("exchange", "x")},
        "read-only": ok,
        "write-only": ok,
        "configure-only": ok,
    }


#: 4.3 made passive declares check permissions (rabbitmq-server#16085)
PASSIVE_EXPECT = {"3.10": _passive(False), "4.0": _passive(False), "4.3": _passive(True)}

# --- configure / write / read ---------------------------------------------------------------


def permission_matrix(ctx: Context, configure: str, write: str, read: str) -> dict[str, Any]:
    """Every operation RabbitMQ checks, by a user with these permissions, on things the
    administrator set up: "ok" or the refusal (which names the resource that failed the check)."""
    vhost, user = ctx.account(configure, write, read)
    n = ctx.name
    q, qp, qdel, x, x2, xdel, dlx, ae = (
        n("q"),
        n("qp"),
        n("qdel"),
        n("x"),
        n("x2"),
        n("xdel"),
        n("dlx"),
        n("ae"),
    )
    setup = ctx.connect(vhost=vhost).channel()
    for exchange in (x, x2, xdel, dlx, ae):
        setup.exchange_declare(exchange, "direct")
    for queue in (q, qp, qdel):
        setup.queue_declare(queue)
    setup.queue_bind(q, x, "k")
    setup.exchange_bind(x2, x, "kb")
    setup.confirm_delivery()
    setup.basic_publish("", q, b"m")
    setup.basic_publish("", qp, b"m")

    def publish(exchange: str, key: str) -> Op:
        def call(ch: BlockingChannel) -> None:
            ch.basic_publish(exchange, key, b"p")
            fence(ch)

        return call

    ops: list[tuple[str, Op]] = [
        ("queue.declare", lambda ch: ch.queue_declare(n("new-q"))),
        ("queue.declare existing", lambda ch: ch.queue_declare(q)),
        ("queue.declare passive", lambda ch: ch.queue_declare(q, passive=True)),
        (
            "queue.declare dead-letter-exchange",
            lambda ch: ch.queue_declare(n("dl-q"), arguments={"x-dead-letter-exchange": dlx}),
        ),
        ("queue.declare server-named", lambda ch: ch.queue_declare("", exclusive=True)),
        ("exchange.declare", lambda ch: ch.exchange_declare(n("new-x"), "direct")),
        ("exchange.declare existing", lambda ch: ch.exchange_declare(x, "direct")),
        ("exchange.declare passive", lambda ch: ch.exchange_declare(x, passive=True)),
        (
            "exchange.declare alternate-exchange",
            lambda ch: ch.exchange_declare(n("ae-x"), "direct", arguments={"alternate-exchange": ae}),
        ),
        ("queue.bind", lambda ch: ch.queue_bind(q, x, "k2")),
        ("queue.unbind", lambda ch: ch.queue_unbind(q, x, "k")),
        ("exchange.bind", lambda ch: ch.exchange_bind(x2, x, "k3")),
        ("exchange.unbind", lambda ch: ch.exchange_unbind(x2, x, "kb")),
        ("queue.purge", lambda ch: ch.queue_purge(qp)),
        ("basic.publish", publish(x, "k")),
        ("basic.publish default exchange", publish("", q)),
        ("basic.get", lambda ch: ch.basic_get(q)),
        ("basic.consume", lambda ch: ch.basic_consume(q, lambda *a: None)),
        ("queue.delete", lambda ch: ch.queue_delete(qdel)),
        ("exchange.delete", lambda ch: ch.exchange_delete(xdel)),
    ]
    connection = ctx.connect(user=user, password="secret", vhost=vhost)
    return {label: new_channel_step(connection, op) for label, op in ops}


@scenario
def permissions_all_granted(ctx: Context) -> Any:
    """With ".*" for configure, write and read every checked operation succeeds (the baseline
    for the three scenarios that take one permission away)."""
    return permission_matrix(ctx, ".*", ".*", ".*")


@scenario
def permissions_without_configure(ctx: Context) -> Any:
    """Configure "" (nothing): which operations need configure, each refused 403 with the text
    naming the queue or exchange."""
    return permission_matrix(ctx, "", ".*", ".*")


@scenario
def permissions_without_write(ctx: Context) -> Any:
    """Write "": publishing (to a named and to the default exchange), binding (the destination),
    dead-letter and alternate exchanges need write."""
    return permission_matrix(ctx, ".*", "", ".*")


@scenario
def permissions_without_read(ctx: Context) -> Any:
    """Read "": get, consume, purge, binding (the source) and the queue or exchange a dead-letter
    or alternate exchange is declared on need read."""
    return permission_matrix(ctx, ".*", ".*", "")


@scenario
def permission_regexes_are_unanchored(ctx: Context) -> Any:
    """A permission is a regular expression searched anywhere in the name (not anchored): "mid"
    matches "…a-mid-b"; "^" anchors; the default exchange is checked under the name amq.default."""
    vhost = ctx.vhost()
    p = ctx.prefix
    out: dict[str, Any] = {}
    for label, configure, write, names in (
        ("unanchored", "mid", "", [p + "a-mid-b", p + "other"]),
        ("anchored", "^mid", "", [p + "mid-x", "mid-y"]),
        ("dot-is-any", "^a.c$", "", ["abc", "a.c", "abbc"]),
        ("alternatives", "^(one|two)$", "", ["one", "two", "three", "twos"]),
    ):
        user = ctx.user(label)
        ctx.permit(user, vhost, configure, write, "")
        connection = ctx.connect(user=user, password="secret", vhost=vhost)
        out[label] = {
            name: new_channel_step(connection, lambda ch, q=name: ch.queue_declare(q)) for name in names
        }
    for label, write in (
        ("default-as-amq.default", r"^amq\.default$"),
        ("default-as-empty", "^$"),
        ("default-everything", ".*"),
    ):
        user = ctx.user(label)
        ctx.permit(user, vhost, "", write, "")
        connection = ctx.connect(user=user, password="secret", vhost=vhost)
        channel = connection.channel()
        out[label] = step(lambda ch=channel: (ch.basic_publish("", "nowhere", b"m"), fence(ch)))
    return out


@scenario(expect=PASSIVE_EXPECT)
def passive_declare_permissions(ctx: Context) -> Any:
    """A passive declare needs no permission up to 4.0; from 4.3 it needs any one of read, write
    or configure on the queue or exchange (refused as a configure refusal)."""
    vhost = ctx.vhost()
    q, x = ctx.name("q"), ctx.name("x")
    setup = ctx.connect(vhost=vhost).channel()
    setup.queue_declare(q)
    setup.exchange_declare(x, "direct")
    out: dict[str, Any] = {}
    for label, configure, write, read in (
        ("none", "^nothing$", "^nothing$", "^nothing$"),
        ("read-only", "", "", ".*"),
        ("write-only", "", ".*", ""),
        ("configure-only", ".*", "", ""),
    ):
        user = ctx.user(label)
        ctx.permit(user, vhost, configure, write, read)
        connection = ctx.connect(user=user, password="secret", vhost=vhost)
        out[label] = {
            "queue": new_channel_step(connection, lambda ch: ch.queue_declare(q, passive=True)),
            "exchange": new_channel_step(connection, lambda ch: ch.exchange_declare(x, passive=True)),
        }
    return out


@scenario
def server_named_queue_needs_configure_on_amq_gen(ctx: Context) -> Any:
    """A server-named queue is checked under its generated amq.gen-… name."""
    vhost = ctx.vhost()
    out: dict[str, Any] = {}
    for label, configure in (("amq-gen", r"^amq\.gen-"), ("other", "^other$")):
        user = ctx.user(label)
        ctx.permit(user, vhost, configure, "", "")
        connection = ctx.connect(user=user, password="secret", vhost=vhost)
        channel = connection.channel()
        out[label] = attempt(lambda ch=channel: ch.queue_declare("", exclusive=True).method.queue)
    return out


@scenario
def permission_changes_and_open_channels(ctx: Context) -> Any:
    """After set_permissions a new channel (or connection) sees the new permissions; a channel that
    already used a resource keeps its cached grant after a revocation."""
    vhost, user = ctx.account("", ".*", ".*")
    q = ctx.name("q")
    connection = ctx.connect(user=user, password="secret", vhost=vhost)
    out: dict[str, Any] = {"denied": new_channel_step(connection, lambda ch: ch.queue_declare(q))}
    ctx.permit(user, vhost, ".*", ".*", ".*")
    out["granted-same-connection"] = new_channel_step(connection, lambda ch: ch.queue_declare(q))
    fresh = ctx.connect(user=user, password="secret", vhost=vhost)
    kept = fresh.channel()
    out["granted-new-connection"] = step(lambda: kept.queue_declare(q))
    ctx.permit(user, vhost, "", ".*", ".*")
    out["revoked-channel-that-used-it"] = step(lambda: kept.queue_declare(q))
    out["revoked-new-channel"] = new_channel_step(fresh, lambda ch: ch.queue_declare(q))
    out["revoked-new-connection"] = new_channel_step(
        ctx.connect(user=user, password="secret", vhost=vhost), lambda ch: ch.queue_declare(q)
    )
    ctx.admin_ok("DELETE", f"permissions/{quoted(vhost)}/{quoted(user)}")
    out["cleared-open-connection"] = new_channel_step(fresh, lambda ch: ch.queue_declare(q, passive=True))
    out["cleared-new-connection"] = login(ctx, user=user, password="secret", vhost=vhost)
    return out


@scenario
def deleting_a_user(ctx: Context) -> Any:
    """Deleting a user closes its connections (320), refuses its logins, and takes its
    permissions with it."""
    vhost, user = ctx.account()
    q = ctx.name("q")
    connection = ctx.connect(user=user, password="secret", vhost=vhost)
    connection.channel().queue_declare(q)
    deleted = ctx.http("DELETE", f"users/{quoted(user)}")
    return {
        "delete": deleted,
        "open-connection": wait_connection_closed(connection),
        "login": login(ctx, user=user, password="secret", vhost=vhost),
        "permissions": ctx.http("GET", f"permissions/{quoted(vhost)}/{quoted(user)}")["status"],
    }


# --- topic permissions ------------------------------------------------------------------------


@scenario
def topic_permissions(ctx: Context) -> Any:
    """Topic permissions check the routing key of a publish to a topic exchange (write) and the
    binding key of a queue.bind to it (read); other exchanges and exchanges without a topic
    permission are not checked; {username} and {vhost} are expanded."""
    vhost, user = ctx.account()
    t, t2, d, q = ctx.name("t"), ctx.name("t2"), ctx.name("d"), ctx.name("q")
    setup = ctx.connect(vhost=vhost).channel()
    setup.exchange_declare(t, "topic")
    setup.exchange_declare(t2, "topic")
    setup.exchange_declare(d, "direct")
    setup.queue_declare(q)
    for exchange, write, read in ((t, r"^allowed\.", r"^bound\."), (d, "^allowed", "^bound")):
        ctx.admin_ok(
            "PUT",
            f"topic-permissions/{quoted(vhost)}/{quoted(user)}",
            {"exchange": exchange, "write": write, "read": read},
        )
    ctx.admin_ok(
        "PUT",
        f"topic-permissions/{quoted(vhost)}/{quoted(user)}",
        {"exchange": t2, "write": "^{username}-{vhost}$", "read": ""},
    )
    connection = ctx.connect(user=user, password="secret", vhost=vhost)

    def publish(exchange: str, key: str) -> Any:
        def call(ch: BlockingChannel) -> None:
            ch.basic_publish(exchange, key, b"m")
            fence(ch)

        return new_channel_step(connection, call)

    return {
        "publish-allowed": publish(t, "allowed.x"),
        "publish-denied": publish(t, "denied.x"),
        "publish-denied-direct": publish(d, "denied"),
        "publish-amq.topic": publish("amq.topic", "denied.x"),
        "publish-expanded": publish(t2, f"{user}-{vhost}"),
        "publish-not-expanded": publish(t2, "{username}-{vhost}"),
        "bind-allowed": new_channel_step(connection, lambda ch: ch.queue_bind(q, t, "bound.#")),
        "bind-denied": new_channel_step(connection, lambda ch: ch.queue_bind(q, t, "other.#")),
        "bind-empty-read": new_channel_step(connection, lambda ch: ch.queue_bind(q, t2, "any")),
        "unbind-denied": new_channel_step(connection, lambda ch: ch.queue_unbind(q, t, "other.#")),
        "exchange-bind-denied": new_channel_step(connection, lambda ch: ch.exchange_bind(d, t, "other.#")),
        "exchange-bind-as-source-denied": new_channel_step(
            connection, lambda ch: ch.exchange_bind(t, d, "other.#")
        ),
        "listed": sorted(
            (p["exchange"], p["write"], p["read"])
            for p in ctx.http("GET", f"topic-permissions/{quoted(vhost)}/{quoted(user)}")["body"]
        ),
    }


# --- vhosts -----------------------------------------------------------------------------------


@scenario
def deleting_a_vhost_closes_its_connections(ctx: Context) -> Any:
    """Deleting a vhost closes the connections to it (what the client is told), not others; its
    queues go with it, and a recreated vhost starts empty and without permissions."""
    vhost, user = ctx.account()
    q = ctx.name("q")
    inside = ctx.connect(user=user, password="secret", vhost=vhost)
    inside.channel().queue_declare(q, durable=True)
    outside = ctx.connect()
    deleted = ctx.http("DELETE", f"vhosts/{quoted(vhost)}")
    closed = vhost_closed(wait_connection_closed(inside), vhost)
    out = {
        "delete": deleted,
        "inside": closed,
        "outside": step(lambda: fence(outside.channel())),
        "connect-deleted": login(ctx, user=user, password="secret", vhost=vhost),
        "get-deleted": ctx.http("GET", f"vhosts/{quoted(vhost)}")["status"],
        "delete-again": ctx.http("DELETE", f"vhosts/{quoted(vhost)}"),
    }
    ctx.admin_ok("PUT", f"vhosts/{quoted(vhost)}", {})
    out["user-after-recreate"] = login(ctx, user=user, password="secret", vhost=vhost)
    ctx.permit(user, vhost)
    again = ctx.connect(user=user, password="secret", vhost=vhost)
    out["queue-after-recreate"] = new_channel_step(again, lambda ch: ch.queue_declare(q, passive=True))
    return out


@scenario
def recreating_a_vhost_clears_a_durable_queue(ctx: Context) -> Any:
    """The study notes' story: a durable queue declared with other arguments cannot be redeclared
    (406); deleting its vhost, recreating it and setting permissions again lets it be declared."""
    vhost, user = ctx.account()
    q = ctx.name("q")
    connection = ctx.connect(user=user, password="secret", vhost=vhost)
    connection.channel().queue_declare(q, durable=True, arguments={"x-message-ttl": 1000})
    out: dict[str, Any] = {
        "redeclare": new_channel_step(
            connection, lambda ch: ch.queue_declare(q, durable=True, arguments={"x-max-length": 10})
        )
    }
    ctx.admin_ok("DELETE", f"vhosts/{quoted(vhost)}")
    out["closed"] = vhost_closed(wait_connection_closed(connection), vhost)
    out["recreate"] = ctx.http("PUT", f"vhosts/{quoted(vhost)}", {})
    out["before-permissions"] = login(ctx, user=user, password="secret", vhost=vhost)
    out["set-permissions"] = ctx.http(
        "PUT",
        f"permissions/{quoted(vhost)}/{quoted(user)}",
        {"configure": ".*", "write": ".*", "read": ".*"},
    )
    again = ctx.connect(user=user, password="secret", vhost=vhost)
    channel = again.channel()
    out["declare"] = attempt(
        lambda: channel.queue_declare(q, durable=True, arguments={"x-max-length": 10}).method.message_count
    )
    return out


# --- limits -----------------------------------------------------------------------------------


@scenario
def vhost_connection_limit(ctx: Context) -> Any:
    """max-connections on a vhost refuses connections beyond it (for every user), and 0 refuses
    all; a freed slot can be used again."""
    vhost, user = ctx.account()
    out: dict[str, Any] = {
        "set": ctx.http("PUT", f"vhost-limits/{quoted(vhost)}/max-connections", {"value": 1})
    }
    first = ctx.connect(user=user, password="secret", vhost=vhost)
    out["second"] = login(ctx, user=user, password="secret", vhost=vhost)
    out["second-admin"] = login(ctx, vhost=vhost)
    first.close()
    out["after-close"] = login_until(ctx, user=user, password="secret", vhost=vhost)
    ctx.admin_ok("PUT", f"vhost-limits/{quoted(vhost)}/max-connections", {"value": 0})
    out["zero"] = login(ctx, vhost=vhost)
    listed = ctx.http("GET", f"vhost-limits/{quoted(vhost)}")
    out["listed"] = listed
    ctx.admin_ok("DELETE", f"vhost-limits/{quoted(vhost)}/max-connections")
    out["cleared"] = login(ctx, vhost=vhost)
    return out


@scenario
def vhost_queue_limit(ctx: Context) -> Any:
    """max-queues on a vhost refuses a new queue beyond it (a redeclare of an existing one is
    fine), server-named ones included."""
    vhost, user = ctx.account()
    ctx.admin_ok("PUT", f"vhost-limits/{quoted(vhost)}/max-queues", {"value": 1})
    connection = ctx.connect(user=user, password="secret", vhost=vhost)
    q1, q2 = ctx.name("q1"), ctx.name("q2")
    return {
        "first": new_channel_step(connection, lambda ch: ch.queue_declare(q1)),
        "redeclare": new_channel_step(connection, lambda ch: ch.queue_declare(q1)),
        "second": new_channel_step(connection, lambda ch: ch.queue_declare(q2)),
        "server-named": new_channel_step(connection, lambda ch: ch.queue_declare("", exclusive=True)),
        "connection-open": connection.is_open,
    }


@scenario
def user_connection_and_channel_limits(ctx: Context) -> Any:
    """A user's max-connections and max-channels: beyond them a connection is refused and a
    channel.open is refused (what the client sees)."""
    vhost, user = ctx.account()
    out: dict[str, Any] = {
        "set-connections": ctx.http("PUT", f"user-limits/{quoted(user)}/max-connections", {"value": 1}),
        "set-channels": ctx.http("PUT", f"user-limits/{quoted(user)}/max-channels", {"value": 1}),
    }
    first = ctx.connect(user=user, password="secret", vhost=vhost)
    out["second-connection"] = login(ctx, user=user, password="secret", vhost=vhost)
    first.channel()
    # 4.0 names the node where the user belongs: the node's own name is this machine's business
    node = ctx.http("GET", "overview")["body"]["node"]
    refusal = attempt(lambda: first.channel() and "opened")
    out["second-channel"] = (
        tuple(part.replace(node, "<node>") if isinstance(part, str) else part for part in refusal)
        if isinstance(refusal, tuple)
        else refusal
    )
    out["after"] = {"connection-open": first.is_open}
    out["listed"] = ctx.http("GET", f"user-limits/{quoted(user)}")
    return out


# --- the management API's refusals -------------------------------------------------------------


@scenario
def management_api_bad_input(ctx: Context) -> Any:
    """The management API's status and body for malformed JSON, unknown vhosts and users, invalid
    permission regexes and missing objects."""
    vhost, user = ctx.account()
    missing_vhost, missing_user = quoted(ctx.name("missing-vh")), quoted(ctx.name("missing-u"))
    v, u = quoted(vhost), quoted(user)
    perms = {"configure": ".*", "write": ".*", "read": ".*"}
    created = ctx.name("created")
    ctx.users.append(created)
    ctx.users.append(ctx.name("nopw"))
    return {
        "malformed-json-vhost": ctx.http("PUT", f"vhosts/{quoted(ctx.name('new'))}", raw=b"{not json"),
        "malformed-json-permissions": ctx.http("PUT", f"permissions/{v}/{u}", raw=b'{"configure": '),
        "queues-of-missing-vhost": ctx.http("GET", f"queues/{missing_vhost}"),
        "missing-queue": ctx.http("GET", f"queues/{v}/{quoted(ctx.name('nq'))}"),
        "missing-user": ctx.http("GET", f"users/{missing_user}"),
        "missing-vhost": ctx.http("GET", f"vhosts/{missing_vhost}"),
        "delete-missing-user": ctx.http("DELETE", f"users/{missing_user}"),
        "permissions-missing-vhost": ctx.http("PUT", f"permissions/{missing_vhost}/{u}", perms),
        "permissions-missing-user": ctx.http("PUT", f"permissions/{v}/{missing_user}", perms),
        "permissions-invalid-regex": ctx.http(
            "PUT", f"permissions/{v}/{u}", {"configure": "(", "write": ".*", "read": ".*"}
        ),
        "permissions-missing-field": ctx.http("PUT", f"permissions/{v}/{u}", {"configure": ".*"}),
        "get-missing-permissions": ctx.http("GET", f"permissions/{v}/{missing_user}"),
        "user-without-password": ctx.http("PUT", f"users/{quoted(ctx.name('nopw'))}", {"tags": ""}),
        "create-user": ctx.http("PUT", f"users/{quoted(created)}", {"password": "p", "tags": ""}),
        "update-user": ctx.http("PUT", f"users/{u}", {"password": "secret", "tags": ""}),
        "create-vhost-again": ctx.http("PUT", f"vhosts/{v}", {}),
    }


@scenario
def management_api_refuses_wrong_users(ctx: Context) -> Any:
    """Bad credentials are 401; a user without the management tag may not use the API, a
    management user may not administer (status and body)."""
    vhost, plain = ctx.account()
    ctx.vhosts.append(ctx.name("mv"))  # in case a broker wrongly lets the manager create it
    manager = ctx.user("m", tags="management")
    ctx.permit(manager, vhost)
    v = quoted(vhost)
    return {
        "bad-password": ctx.http("GET", "overview", user="guest", password="not-it"),
        "unknown-user": ctx.http("GET", "overview", user=ctx.name("nobody"), password="x"),
        "no-tag-overview": ctx.http("GET", "overview", user=plain, password="secret"),
        "no-tag-whoami": ctx.http("GET", "whoami", user=plain, password="secret"),
        "management-whoami": ctx.http("GET", "whoami", user=manager, password="secret"),
        "management-users": ctx.http("GET", "users", user=manager, password="secret"),
        "management-create-vhost": ctx.http(
            "PUT", f"vhosts/{quoted(ctx.name('mv'))}", {}, user=manager, password="secret"
        ),
        "management-set-permissions": ctx.http(
            "PUT",
            f"permissions/{v}/{quoted(plain)}",
            {"configure": "", "write": "", "read": ""},
            user=manager,
            password="secret",
        ),
        "management-vhosts": sorted(
            item["name"]
            for item in ctx.http("GET", "vhosts", user=manager, password="secret")["body"]
            if item["name"].startswith(ctx.prefix)
        ),
    }


@scenario
def management_api_tags(ctx: Context) -> Any:
    """What the policymaker and monitoring tags allow over the management API: a policymaker may
    set policies in vhosts it has permissions in, not elsewhere, and no users or vhosts; a
    monitoring user sees every connection but sets nothing; tags given as a list."""
    vhost, plain = ctx.account()
    other = ctx.vhost("other")
    maker = ctx.user("pm", tags="policymaker")
    ctx.permit(maker, vhost)
    watcher = ctx.user("mon", tags="monitoring")
    listed = ctx.name("listed")
    ctx.users.append(listed)
    ctx.connect(user=plain, password="secret", vhost=vhost)
    policy = {"pattern": "^none$", "definition": {"max-length": 1}}

    def as_user(user: str, method: str, path: str, body: Any = None) -> Any:
        return ctx.http(method, path, body, user=user, password="secret")

    def connections_seen(user: str) -> Any:
        """Users of this run with a connection in GET /api/connections, polled: the list comes
        from statistics, so a new connection shows up after a moment."""
        deadline = time.monotonic() + WAIT
        while True:
            reply = as_user(user, "GET", "connections")
            if reply["status"] != 200:
                return reply
            seen = sorted({item["user"] for item in reply["body"] if item["user"].startswith(ctx.prefix)})
            if seen or time.monotonic() >= deadline:
                return seen
            time.sleep(0.1)

    return {
        "policymaker-policy": as_user(
            maker, "PUT", f"policies/{quoted(vhost)}/{quoted(ctx.name('p'))}", policy
        ),
        "policymaker-policy-elsewhere": as_user(
            maker, "PUT", f"policies/{quoted(other)}/{quoted(ctx.name('p'))}", policy
        ),
        "policymaker-vhost": as_user(maker, "PUT", f"vhosts/{quoted(ctx.name('pmv'))}", {}),
        "policymaker-users": as_user(maker, "GET", "users")["status"],
        "monitoring-policy": as_user(
            watcher, "PUT", f"policies/{quoted(vhost)}/{quoted(ctx.name('q'))}", policy
        ),
        "monitoring-connections": connections_seen(watcher),
        "no-tag-connections": connections_seen(plain),
        "tags-as-list": ctx.http(
            "PUT", f"users/{quoted(listed)}", {"password": "p", "tags": ["monitoring", "management"]}
        ),
        "tags-listed": sorted(ctx.http("GET", f"users/{quoted(listed)}")["body"].get("tags", [])),
    }


@scenario
def management_api_limit_and_topic_permission_bad_input(ctx: Context) -> Any:
    """The management API's answers to bad limits (unknown name, not a number, negative, missing
    vhost or user) and bad topic permissions (invalid regex, missing exchange)."""
    vhost, user = ctx.account()
    v, u = quoted(vhost), quoted(user)
    missing_vhost, missing_user = quoted(ctx.name("missing-vh")), quoted(ctx.name("missing-u"))
    topic = f"topic-permissions/{v}/{u}"
    return {
        "vhost-unknown-limit": ctx.http("PUT", f"vhost-limits/{v}/max-foo", {"value": 1}),
        "vhost-limit-not-number": ctx.http("PUT", f"vhost-limits/{v}/max-queues", {"value": "ten"}),
        "vhost-limit-negative": ctx.http("PUT", f"vhost-limits/{v}/max-queues", {"value": -1}),
        "vhost-limit-no-value": ctx.http("PUT", f"vhost-limits/{v}/max-queues", {}),
        "vhost-limit-missing-vhost": ctx.http(
            "PUT", f"vhost-limits/{missing_vhost}/max-queues", {"value": 1}
        ),
        "vhost-limits-listed": ctx.http("GET", f"vhost-limits/{v}"),
        "delete-limit": ctx.http("DELETE", f"vhost-limits/{v}/max-queues"),
        "user-unknown-limit": ctx.http("PUT", f"user-limits/{u}/max-foo", {"value": 1}),
        "user-limit-missing-user": ctx.http("PUT", f"user-limits/{missing_user}/max-channels", {"value": 1}),
        "user-limits-none": ctx.http("GET", f"user-limits/{u}"),
        "topic-invalid-regex": ctx.http("PUT", topic, {"exchange": "amq.topic", "write": "(", "read": ".*"}),
        "topic-missing-exchange": ctx.http("PUT", topic, {"write": ".*", "read": ".*"}),
        "topic-missing-user": ctx.http(
            "PUT",
            f"topic-permissions/{v}/{missing_user}",
            {"exchange": "amq.topic", "write": ".*", "read": ".*"},
        ),
        "topic-none": ctx.http("GET", topic),
    }
