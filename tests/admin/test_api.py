"""The simulator's management API over real HTTP: authentication and tags, RabbitMQ's paths,
status codes and error bodies (as measured on 3.10.8, 4.0.5 and 4.3.6, see ACCESS_FACTS.md and
the report of helper A), writes that change the core, and the output road drained after them."""

from __future__ import annotations

import secrets
import socket
import time
import urllib.parse

import pika
import pika.exceptions
import pytest

from rabbitsim.backends import EmbeddedBroker, ManagementClient

from .conftest import http


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


@pytest.fixture
def vhost(base: str) -> str:
    """A fresh vhost (guest gets permissions in it by creating it), removed afterwards."""
    name = f"A-{secrets.token_hex(3)}"
    assert http(base, "PUT", f"/api/vhosts/{q(name)}", {}).status == 201
    yield name
    http(base, "DELETE", f"/api/vhosts/{q(name)}")


def connect(sim: EmbeddedBroker, vhost: str, name: str = "") -> pika.BlockingConnection:
    properties = {"connection_name": name} if name else {}
    return pika.BlockingConnection(
        pika.ConnectionParameters(
            "127.0.0.1", sim.port, vhost, heartbeat=0, client_properties=properties or None
        )
    )


# --- where it listens, who may ask --------------------------------------------------------------


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks a route
        address: str = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_listens_on_loopback_only(sim: EmbeddedBroker) -> None:
    assert sim.admin is not None and sim.admin.host == "127.0.0.1"
    assert sim.management_url == f"http://guest:guest@127.0.0.1:{sim.admin.port}/"
    with socket.create_connection(("127.0.0.1", sim.admin.port), timeout=2):
        pass
    address = _non_loopback_address()
    if address is not None:
        with pytest.raises(OSError):
            socket.create_connection((address, sim.admin.port), timeout=2).close()


def test_no_credentials_is_an_empty_401_asking_for_basic_auth(base: str) -> None:
    reply = http(base, "GET", "/api/overview", auth=None)
    assert reply.status == 401
    assert reply.raw == b""
    assert reply.headers["www-authenticate"] == 'Basic realm="RabbitMQ Management"'


@pytest.mark.parametrize("auth", [("guest", "wrong"), ("nobody", "x"), ("guest", "")])
def test_wrong_credentials(base: str, auth: tuple[str, str]) -> None:
    reply = http(base, "GET", "/api/whoami", auth=auth)
    assert (reply.status, reply.json) == (401, {"error": "not_authorized", "reason": "Not_Authorized"})


def test_tags_decide_what_a_user_may_ask(base: str) -> None:
    token = secrets.token_hex(3)
    users = {"plain": "", "manager": "management", "monitor": "monitoring"}
    try:
        for role, tags in users.items():
            assert (
                http(base, "PUT", f"/api/users/A-{token}-{role}", {"password": "p", "tags": tags}).status
                == 201
            )
        plain, manager, monitor = ((f"A-{token}-{role}", "p") for role in users)
        assert http(base, "GET", "/api/overview", auth=plain).json == {
            "error": "not_authorised",
            "reason": "Not management user",
        }
        refused = {"error": "not_authorised", "reason": "Not administrator user"}
        for path in ("/api/users", "/api/permissions", "/api/definitions"):
            reply = http(base, "GET", path, auth=manager)
            assert (reply.status, reply.json) == (401, refused), path
            assert http(base, "GET", path, auth=monitor).json == refused
        reply = http(base, "PUT", f"/api/vhosts/A-{token}-x", {}, auth=manager)
        assert (reply.status, reply.json) == (401, refused)
        whoami = http(base, "GET", "/api/whoami", auth=manager).json
        assert whoami == {"name": f"A-{token}-manager", "tags": ["management"], "is_internal_user": True}
        assert http(base, "GET", "/api/queues", auth=manager).json == []  # no vhost of its own
        assert http(base, "GET", "/api/overview?columns=rabbitmq_version", auth=manager).json == {
            "rabbitmq_version": "4.3.6"
        }
        assert http(base, "GET", "/api/queues/%2F", auth=manager).json == {
            "error": "not_found",
            "reason": "Not Found",
        }
    finally:
        for role in users:
            http(base, "DELETE", f"/api/users/A-{token}-{role}")


# --- paths and error bodies ------------------------------------------------------------------------

NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/nonsense",
        "/api/queues/%2F/A-missing",
        "/api/queues/A-no-such-vhost",
        "/api/exchanges/%2F/A-missing",
        "/api/vhosts/A-missing",
        "/api/users/A-missing",
        "/api/permissions/%2F/A-missing",
        "/api/policies/%2F/A-missing",
        "/api/connections/A-missing",
        "/api/aliveness-test/A-missing",
    ],
)
def test_missing_things_are_404(base: str, path: str) -> None:
    reply = http(base, "GET", path)
    assert (reply.status, reply.json) == (404, NOT_FOUND)


def test_malformed_json_changes_nothing(base: str) -> None:
    name = f"A-{secrets.token_hex(3)}"
    reply = http(base, "PUT", f"/api/vhosts/{name}", raw=b"{bad json")
    assert (reply.status, reply.json) == (400, {"error": "bad_request", "reason": "not_json"})
    assert http(base, "GET", f"/api/vhosts/{name}").status == 404


def test_an_unsupported_method_is_405_and_options_say_which_are(base: str, vhost: str) -> None:
    reply = http(base, "PATCH", f"/api/vhosts/{q(vhost)}")
    assert reply.status == 405 and reply.raw == b""
    assert reply.headers["allow"] == "HEAD, GET, PUT, DELETE, OPTIONS"
    reply = http(base, "OPTIONS", "/api/overview")
    assert (reply.status, reply.headers["allow"], reply.raw) == (200, "HEAD, GET, OPTIONS", b"")
    reply = http(base, "HEAD", "/api/overview")
    assert (reply.status, reply.raw) == (200, b"")


def test_vhosts_put_get_delete(base: str) -> None:
    name = f"A-{secrets.token_hex(3)}"
    path = f"/api/vhosts/{name}"
    assert http(base, "PUT", path, {"description": "d", "tags": "a,b"}).status == 201
    assert http(base, "PUT", path, {"description": "e"}).status == 204
    shown = http(base, "GET", path).json
    assert (shown["name"], shown["description"], shown["tags"], shown["tracing"]) == (
        name,
        "e",
        ["a", "b"],
        False,
    )
    assert shown["metadata"] == {"default_queue_type": "classic", "description": "e", "tags": ["a", "b"]}
    # the creator gets everything in the new vhost, as RabbitMQ does
    assert http(base, "GET", f"/api/vhosts/{name}/permissions").json == [
        {"user": "guest", "vhost": name, "configure": ".*", "write": ".*", "read": ".*"}
    ]
    assert http(base, "PUT", path, {"tracing": True}).status == 204
    assert http(base, "GET", path).json["tracing"] is True
    assert http(base, "DELETE", path).status == 204
    assert (http(base, "DELETE", path).status, http(base, "DELETE", path).json) == (404, NOT_FOUND)


def test_queues_declare_as_a_channel_does(base: str, vhost: str) -> None:
    path = f"/api/queues/{q(vhost)}/q"
    assert http(base, "PUT", path, {"durable": True}).status == 201
    assert http(base, "PUT", path, {"durable": True}).status == 204
    reply = http(base, "PUT", path, {"durable": False})
    assert (reply.status, reply.json) == (
        400,
        {
            "error": "bad_request",
            "reason": f"inequivalent arg 'durable' for queue 'q' in vhost '{vhost}': "
            "received 'false' but current is 'true'",
        },
    )
    reply = http(base, "PUT", f"/api/queues/{q(vhost)}/q3", {"arguments": {"x-max-length": "x"}})
    assert reply.status == 400 and "x-max-length" in reply.json["reason"]
    assert http(base, "GET", f"/api/queues/{q(vhost)}/q3").status == 404
    reply = http(base, "PUT", "/api/queues/A-no-such-vhost/q", {})
    assert (reply.status, reply.json) == (404, {"error": "not_found", "reason": "vhost_not_found"})
    shown = http(base, "GET", path).json
    assert (shown["name"], shown["durable"], shown["arguments"]) == ("q", True, {"x-queue-type": "classic"})
    assert http(base, "DELETE", path).status == 204
    assert http(base, "DELETE", path).json == NOT_FOUND


def test_exchanges(base: str, vhost: str) -> None:
    path = f"/api/exchanges/{q(vhost)}/e"
    assert http(base, "PUT", path, {"type": "topic"}).status == 201
    reply = http(base, "PUT", path, {"type": "direct"})
    assert reply.json == {
        "error": "bad_request",
        "reason": f"inequivalent arg 'type' for exchange 'e' in vhost '{vhost}': "
        "received 'direct' but current is 'topic'",
    }
    reply = http(base, "PUT", f"/api/exchanges/{q(vhost)}/e2", {"type": "nope"})
    assert (reply.status, reply.json) == (
        400,
        {"error": "bad_request", "reason": "unknown exchange type 'nope'"},
    )
    refused = {"error": "not_authorised", "reason": "Access refused."}
    assert http(base, "PUT", f"/api/exchanges/{q(vhost)}/amq.foo", {"type": "direct"}).json == refused
    assert http(base, "DELETE", f"/api/exchanges/{q(vhost)}/amq.direct").json == refused
    shown = http(base, "GET", path).json
    assert shown == {
        "arguments": {},
        "auto_delete": False,
        "durable": False,
        "incoming": [],
        "internal": False,
        "name": "e",
        "outgoing": [],
        "type": "topic",
        "user_who_performed_action": "guest",
        "vhost": vhost,
    }
    assert http(base, "GET", f"/api/exchanges/{q(vhost)}/amq.default").json["name"] == ""


def test_bindings_publish_get_and_purge(base: str, vhost: str) -> None:
    v = q(vhost)
    http(base, "PUT", f"/api/exchanges/{v}/e", {"type": "direct"})
    http(base, "PUT", f"/api/queues/{v}/q", {})
    reply = http(base, "POST", f"/api/bindings/{v}/e/e/q/q", {"routing_key": "a b/c", "arguments": {}})
    assert (reply.status, reply.headers["location"]) == (201, "q/a%2Bb%252Fc")
    reply = http(base, "POST", f"/api/bindings/{v}/e/nox/q/q", {"routing_key": "k"})
    assert (reply.status, reply.json) == (
        404,
        {"error": "not_found", "reason": f"no exchange 'nox' in vhost '{vhost}'"},
    )
    found = http(base, "GET", f"/api/bindings/{v}/e/e/q/q").json
    assert found == [
        {
            "arguments": {},
            "destination": "q",
            "destination_type": "queue",
            "properties_key": "a+b%2Fc",
            "routing_key": "a b/c",
            "source": "e",
            "vhost": vhost,
        }
    ]
    assert http(base, "GET", f"/api/bindings/{v}/e/e/q/q/{q('a+b%2Fc')}").json == found[0]
    assert http(base, "GET", f"/api/bindings/{v}/e/e/q/q/nokey").json == NOT_FOUND
    publish = {"properties": {}, "routing_key": "a b/c", "payload": "hi", "payload_encoding": "string"}
    assert http(base, "POST", f"/api/exchanges/{v}/e/publish", publish).json == {"routed": True}
    assert http(base, "POST", f"/api/exchanges/{v}/e/publish", {**publish, "routing_key": "zz"}).json == {
        "routed": False
    }
    assert http(
        base, "POST", f"/api/exchanges/{v}/amq.default/publish", {**publish, "routing_key": "q"}
    ).json == {"routed": True}
    reply = http(base, "POST", f"/api/queues/{v}/q/get", {"count": 5})
    assert reply.json == {"error": "bad_request", "reason": "[{key_missing,ackmode},{key_missing,encoding}]"}
    get = {"count": 5, "ackmode": "ack_requeue_true", "encoding": "auto"}
    got = http(base, "POST", f"/api/queues/{v}/q/get", get).json
    assert got == [
        {
            "payload_bytes": 2,
            "redelivered": False,
            "exchange": "e",
            "routing_key": "a b/c",
            "message_count": 1,
            "properties": [],
            "payload": "hi",
            "payload_encoding": "string",
        },
        {
            "payload_bytes": 2,
            "redelivered": False,
            "exchange": "",
            "routing_key": "q",
            "message_count": 0,
            "properties": [],
            "payload": "hi",
            "payload_encoding": "string",
        },
    ]
    shown = http(base, "GET", f"/api/queues/{v}/q").json
    assert (shown["messages_ready"], shown["messages_unacknowledged"]) == (2, 0)  # requeued
    again = http(base, "POST", f"/api/queues/{v}/q/get", {**get, "count": 1}).json
    assert again[0]["redelivered"] is True
    assert http(base, "DELETE", f"/api/queues/{v}/q/contents").status == 204
    assert http(base, "GET", f"/api/queues/{v}/q").json["messages"] == 0
    assert http(base, "DELETE", f"/api/bindings/{v}/e/e/q/q/{q('a+b%2Fc')}").status == 204
    assert http(base, "GET", f"/api/bindings/{v}/e/e/q/q").json == []


def test_closing_a_connection_tells_the_client(sim: EmbeddedBroker, base: str, vhost: str) -> None:
    """DELETE with X-Reason: the client is sent connection.close 320 with that text at once
    (the admin request drains the core's output road)."""
    connection = connect(sim, vhost, "A-victim")
    try:
        names = [c["name"] for c in http(base, "GET", f"/api/vhosts/{q(vhost)}/connections").json]
        assert len(names) == 1
        shown = http(base, "GET", f"/api/connections/{q(names[0])}").json
        assert (shown["user_provided_name"], shown["vhost"], shown["channels"]) == ("A-victim", vhost, 0)
        reply = http(base, "DELETE", f"/api/connections/{q(names[0])}", headers={"X-Reason": "go away"})
        assert reply.status == 204
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                connection.process_data_events(time_limit=0.1)
        assert (closed.value.reply_code, closed.value.reply_text) == (320, "CONNECTION_FORCED - go away")
        assert http(base, "GET", f"/api/connections/{q(names[0])}").status == 404
    finally:
        if connection.is_open:
            connection.close()


def test_deleting_a_vhost_closes_its_connections(sim: EmbeddedBroker, base: str) -> None:
    name = f"A-{secrets.token_hex(3)}"
    http(base, "PUT", f"/api/vhosts/{name}", {})
    connection = connect(sim, name)
    assert http(base, "DELETE", f"/api/vhosts/{name}").status == 204
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)
    assert closed.value.reply_code == 320


# --- users, permissions, policies, limits --------------------------------------------------------


def test_users_and_permissions(base: str, vhost: str) -> None:
    user = f"A-{secrets.token_hex(3)}"
    try:
        assert http(base, "PUT", f"/api/users/{user}", {"password": "p", "tags": "management"}).status == 201
        shown = http(base, "GET", f"/api/users/{user}").json
        assert set(shown) == {"name", "password_hash", "hashing_algorithm", "tags", "limits"}
        assert (shown["hashing_algorithm"], shown["tags"], shown["limits"]) == (
            "rabbit_password_hashing_sha256",
            ["management"],
            {},
        )
        assert http(base, "GET", "/api/whoami", auth=(user, "p")).status == 200
        reply = http(base, "PUT", f"/api/users/{user}-bh", {"password_hash": "!!!", "tags": ""})
        assert (reply.status, reply.json) == (400, {"error": "bad_request", "reason": ["not_base64", "!!!"]})
        assert http(base, "GET", f"/api/users/{user}-bh").status == 404
        # the same hash logs in with the same password
        copy = {"password_hash": shown["password_hash"], "tags": "management"}
        assert http(base, "PUT", f"/api/users/{user}-copy", copy).status == 201
        assert http(base, "GET", "/api/whoami", auth=(f"{user}-copy", "p")).status == 200
        http(base, "DELETE", f"/api/users/{user}-copy")

        path = f"/api/permissions/{q(vhost)}/{user}"
        reply = http(base, "PUT", path, {"configure": "(", "write": ".*", "read": ".*"})
        assert (reply.status, reply.json["reason"]) == (
            400,
            ["invalid_regexp", [40], [[ord(c) for c in "missing closing parenthesis"], 1]],
        )
        assert http(base, "GET", path).status == 404  # nothing half-applied
        reply = http(
            base, "PUT", f"/api/permissions/{q(vhost)}/A-nobody", {"configure": "", "write": "", "read": ""}
        )
        assert reply.json == {"error": "bad_request", "reason": "vhost_or_user_not_found"}
        reply = http(base, "PUT", path, {"configure": ".*"})
        assert reply.json == {"error": "bad_request", "reason": "[{key_missing,write},{key_missing,read}]"}
        assert http(base, "PUT", path, {"configure": "^a", "write": ".*", "read": ".*"}).status == 201
        assert http(base, "PUT", path, {"configure": "^b", "write": ".*", "read": ".*"}).status == 204
        expected = {"user": user, "vhost": vhost, "configure": "^b", "write": ".*", "read": ".*"}
        assert http(base, "GET", path).json == expected
        assert expected in http(base, "GET", f"/api/users/{user}/permissions").json
        assert expected in http(base, "GET", "/api/permissions").json
        topic = {"exchange": "amq.topic", "write": "^a", "read": ".*"}
        assert http(base, "PUT", f"/api/topic-permissions/{q(vhost)}/{user}", topic).status == 201
        assert http(base, "GET", f"/api/topic-permissions/{q(vhost)}/{user}").json == [
            {"user": user, "vhost": vhost, **topic}
        ]
        assert http(base, "PUT", f"/api/user-limits/{user}/max-channels", {"value": 3}).status == 204
        assert http(base, "GET", f"/api/user-limits/{user}").json == [
            {"user": user, "value": {"max-channels": 3}}
        ]
        assert http(base, "DELETE", path).status == 204
        assert http(base, "DELETE", path).json == NOT_FOUND
    finally:
        http(base, "DELETE", f"/api/users/{user}")


def test_policies_and_limits(base: str, vhost: str) -> None:
    v = q(vhost)
    http(base, "PUT", f"/api/queues/{v}/q2", {})
    path = f"/api/policies/{v}/p"
    reply = http(base, "PUT", path, {"pattern": ".*"})
    assert reply.json == {"error": "bad_request", "reason": "[{key_missing,definition}]"}
    reply = http(base, "PUT", path, {"pattern": ".*", "definition": {"bogus": 1}})
    assert reply.json == {
        "error": "bad_request",
        "reason": 'Validation failed\n\n[{<<"bogus">>,1}] are not recognised policy settings\n',
    }
    assert http(base, "GET", path).status == 404
    policy = {"pattern": "^q2$", "definition": {"max-length": 100}, "priority": 1, "apply-to": "queues"}
    assert http(base, "PUT", path, policy).status == 201
    assert http(base, "GET", path).json == {"vhost": vhost, "name": "p", **policy}
    shown = http(base, "GET", f"/api/queues/{v}/q2").json
    assert (shown["policy"], shown["effective_policy_definition"]) == ("p", {"max-length": 100})
    assert http(base, "DELETE", path).status == 204
    assert http(base, "GET", f"/api/queues/{v}/q2").json["policy"] is None
    assert http(base, "PUT", f"/api/vhost-limits/{v}/max-queues", {"value": 5}).status == 204
    assert http(base, "GET", f"/api/vhost-limits/{v}").json == [{"vhost": vhost, "value": {"max-queues": 5}}]
    reply = http(base, "PUT", f"/api/vhost-limits/{v}/bogus", {"value": 5})
    assert reply.json == {
        "error": "bad_request",
        "reason": 'Validation failed\n\nUnrecognised terms [{<<"bogus">>,5}] in limits\n',
    }
    assert http(base, "DELETE", f"/api/vhost-limits/{v}/max-queues").status == 204
    assert http(base, "GET", f"/api/vhost-limits/{v}").json == []


def test_definitions_export_and_import_all_or_nothing(base: str, vhost: str) -> None:
    v = q(vhost)
    http(base, "PUT", f"/api/queues/{v}/kept", {"durable": True})
    exported = http(base, "GET", f"/api/definitions/{v}").json
    assert [queue["name"] for queue in exported["queues"]] == ["kept"]
    other = f"A-{secrets.token_hex(3)}"
    http(base, "PUT", f"/api/vhosts/{other}", {})
    try:
        assert http(base, "POST", f"/api/definitions/{other}", exported).status == 204
        assert http(base, "GET", f"/api/queues/{other}/kept").json["durable"] is True
        broken = {
            "queues": [
                {"name": "fresh", "vhost": other, "durable": True, "auto_delete": False, "arguments": {}}
            ],
            "exchanges": [{"name": "bad", "vhost": other, "type": "nope", "durable": True, "arguments": {}}],
        }
        reply = http(base, "POST", "/api/definitions", broken)
        assert reply.status == 400 and reply.json["error"] == "bad_request"
        assert http(base, "GET", f"/api/queues/{other}/fresh").status == 404  # nothing half-applied
    finally:
        http(base, "DELETE", f"/api/vhosts/{other}")


def test_aliveness_and_overview(base: str, vhost: str) -> None:
    assert http(base, "GET", f"/api/aliveness-test/{q(vhost)}").json == {"status": "ok"}
    assert http(base, "GET", f"/api/queues/{q(vhost)}").json == []  # 4.3 leaves no queue behind
    http(base, "PUT", f"/api/queues/{q(vhost)}/q", {})
    overview = http(base, "GET", "/api/overview").json
    assert (overview["product_name"], overview["rabbitmq_version"]) == ("RabbitMQ", "4.3.6")
    assert overview["object_totals"]["queues"] >= 1
    assert {listener["protocol"] for listener in overview["listeners"]} == {"amqp", "http"}


def test_dashboard_is_served_without_external_resources(base: str) -> None:
    reply = http(base, "GET", "/", auth=None)
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/html")
    page = reply.raw.decode()
    assert 'api("queues")' in page and "setInterval" in page
    assert "http://" not in page and "https://" not in page  # no CDN


# --- wiring -----------------------------------------------------------------------------------------


def _free_pair() -> int:
    """A port P such that P and P + 10000 are both free now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as other:
            try:
                other.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    pytest.skip("no free port pair")


def test_fixed_amqp_port_serves_the_api_10000_above_and_a_restart_keeps_it() -> None:
    port = _free_pair()
    broker = EmbeddedBroker(port=port)
    try:
        assert broker.management_url == f"http://guest:guest@127.0.0.1:{port + 10000}/"
        broker.restart()
        assert broker.management is not None
        assert broker.management.get("whoami")["name"] == "guest"
    finally:
        broker.close()


def test_free_amqp_port_serves_the_api_on_a_free_port_kept_across_restarts() -> None:
    broker = EmbeddedBroker()
    try:
        url = broker.management_url
        broker.restart(kill=True)
        assert broker.management_url == url
        assert ManagementClient(url).get("overview")["product_name"] == "RabbitMQ"
    finally:
        broker.close()


def test_no_management_api_when_asked() -> None:
    broker = EmbeddedBroker(management_port=-1)
    try:
        assert broker.management_url is None and broker.admin is None
    finally:
        broker.close()


def test_rates_are_the_change_per_second_between_samples(sim: EmbeddedBroker, base: str, vhost: str) -> None:
    """RabbitMQ's `*_details.rate`; the server samples every 5 s, here the test samples twice."""
    assert sim.admin is not None
    admin = sim.admin
    http(base, "PUT", f"/api/queues/{q(vhost)}/r", {})
    sim.server.call(lambda: admin.rates.sample(sim.broker, 100.0))
    publish = {"properties": {}, "routing_key": "r", "payload": "x", "payload_encoding": "string"}
    for _ in range(10):
        http(base, "POST", f"/api/exchanges/{q(vhost)}/amq.default/publish", publish)
    sim.server.call(lambda: admin.rates.sample(sim.broker, 102.0))
    shown = http(base, "GET", f"/api/queues/{q(vhost)}/r").json
    assert shown["messages_ready_details"] == {"rate": 5.0}
    assert shown["messages_unacknowledged_details"] == {"rate": 0.0}
    assert http(base, "GET", f"/api/vhosts/{q(vhost)}").json["messages_details"] == {"rate": 5.0}


def test_health_checks_and_alarms(base: str) -> None:
    """Not a real broker's settings: the simulator's own disk reading, set low for the test."""
    sim_broker = EmbeddedBroker()
    try:
        assert sim_broker.admin is not None
        root = f"http://127.0.0.1:{sim_broker.admin.port}"
        assert http(root, "GET", "/api/health/checks/alarms").json == {"status": "ok"}
        sim_broker.simulate_free_disk(1)
        deadline = time.monotonic() + 10
        while not sim_broker.alarms() and time.monotonic() < deadline:
            time.sleep(0.05)
        reply = http(root, "GET", "/api/health/checks/alarms")
        assert (reply.status, reply.json) == (
            503,
            {
                "status": "failed",
                "reason": "There are alarms in effect in the cluster",
                "alarms": [{"resource": "disk space", "node": "rabbit@localhost"}],
            },
        )
        assert http(root, "GET", "/api/health/checks/local-alarms").json["reason"] == (
            "There are alarms in effect on the node"
        )
        assert http(root, "GET", "/api/nodes").json[0]["disk_free_alarm"] is True
        port = sim_broker.port
        assert http(root, "GET", f"/api/health/checks/port-listener/{port}").json == {
            "status": "ok",
            "port": port,
        }
        reply = http(root, "GET", "/api/health/checks/protocol-listener/mqtt")
        assert (reply.status, reply.json["missing"]) == (503, ["mqtt"])
    finally:
        sim_broker.close()


def test_lists_take_sort_columns_and_pages(base: str, vhost: str) -> None:
    v = q(vhost)
    for name in ("b1", "a1", "a2"):
        http(base, "PUT", f"/api/queues/{v}/{name}", {})
    assert http(base, "GET", f"/api/queues/{v}?columns=name&sort=name&sort_reverse=true").json == [
        {"name": "b1"},
        {"name": "a2"},
        {"name": "a1"},
    ]
    assert http(base, "GET", f"/api/queues/{v}?page=2&page_size=2&name=A&columns=name").json == {
        "filtered_count": 2,
        "item_count": 0,
        "items": [],
        "page": 2,
        "page_count": 1,
        "page_size": 2,
        "total_count": 3,
    }
    reply = http(base, "GET", f"/api/queues/{v}?page=4&page_size=1&name=a")  # two past the end
    assert (reply.status, reply.json["error"]) == (400, "page_out_of_range")


def test_what_the_api_declares_is_stored_like_anything_else() -> None:
    """The request's flush is the AMQP server's: what must be kept is committed, so a durable
    queue made over HTTP, and a persistent message published over HTTP, survive a crash."""
    broker = EmbeddedBroker()
    try:
        assert broker.admin is not None
        root = f"http://127.0.0.1:{broker.admin.port}"
        assert http(root, "PUT", "/api/queues/%2F/A-kept", {"durable": True}).status == 201
        publish = {
            "properties": {"delivery_mode": 2},
            "routing_key": "A-kept",
            "payload": "kept",
            "payload_encoding": "string",
        }
        assert http(root, "POST", "/api/exchanges/%2F/amq.default/publish", publish).json == {"routed": True}
        broker.restart(kill=True)
        shown = http(root, "GET", "/api/queues/%2F/A-kept").json
        assert (shown["durable"], shown["messages_ready"], shown["messages_persistent"]) == (True, 1, 1)
        got = http(
            root,
            "POST",
            "/api/queues/%2F/A-kept/get",
            {"count": 1, "ackmode": "ack_requeue_false", "encoding": "auto"},
        )
        assert got.json[0]["payload"] == "kept" and got.json[0]["properties"] == {"delivery_mode": 2}
    finally:
        broker.close()


def test_tracing_flag_switches_the_firehose(sim: EmbeddedBroker, base: str, vhost: str) -> None:
    """PUT /api/vhosts/v {"tracing": true}, as `ManagementClient.set_tracing` does on a real
    broker: publishes are copied to amq.rabbitmq.trace."""
    assert sim.management is not None
    v = q(vhost)
    http(base, "PUT", f"/api/queues/{v}/traced", {})
    http(base, "PUT", f"/api/queues/{v}/target", {})
    reply = http(
        base, "POST", f"/api/bindings/{v}/e/amq.rabbitmq.trace/q/traced", {"routing_key": "publish.#"}
    )
    assert reply.status == 201
    sim.management.set_tracing(vhost, True)
    assert http(base, "GET", f"/api/vhosts/{v}").json["tracing"] is True
    publish = {"properties": {}, "routing_key": "target", "payload": "hi", "payload_encoding": "string"}
    http(base, "POST", f"/api/exchanges/{v}/amq.default/publish", publish)
    sim.management.set_tracing(vhost, False)
    http(base, "POST", f"/api/exchanges/{v}/amq.default/publish", publish)
    get = {"count": 5, "ackmode": "ack_requeue_false", "encoding": "auto"}
    copies = http(base, "POST", f"/api/queues/{v}/traced/get", get).json
    assert [(copy["exchange"], copy["routing_key"], copy["payload"]) for copy in copies] == [
        ("amq.rabbitmq.trace", "publish.", "hi")  # the default exchange: "publish." (measured, 4.3.6)
    ]
