"""Bad input and edge requests, the same sequence on the simulator and on each real RabbitMQ:
status codes and bodies must be the same (names of our own vhost and user replaced on both
sides). The sequence also writes (queues, exchanges, bindings, policies), so each answer is
given in the same state."""

from __future__ import annotations

import json
import secrets
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from rabbitsim.backends import EmbeddedBroker
from rabbitsim.backends._url import management_url_for
from tests.real_brokers import require_real_broker

from .conftest import Reply, http

VERSIONS = ("3.10", "4.0", "4.3")
ANY = {"configure": ".*", "write": ".*", "read": ".*"}
PUBLISH = {"properties": {}, "payload": "hi", "payload_encoding": "string"}

#: the other user the sequence makes, as (name, password): a step with it as body is sent as
#: that user (an empty body); a body with "as" is sent as that user
USER = ("A-{t}-u", "p")


class Form(bytes):
    """A body sent as a form (`application/x-www-form-urlencoded`, curl's default), not JSON."""


def _definitions(**parts: Any) -> dict[str, Any]:
    return dict(parts)


FRESH = {"name": "fresh", "durable": True, "auto_delete": False, "arguments": {}}
BAD_EXCHANGE = {
    "name": "bad",
    "type": "nope",
    "durable": True,
    "auto_delete": False,
    "internal": False,
    "arguments": {},
}

#: (method, path, body); {v} is our vhost, {t} a token (for names that must not exist);
#: a body of type bytes is sent as it is
STEPS: tuple[tuple[str, str, Any], ...] = (
    ("GET", "overview", None),  # status only: see `compared`
    ("PUT", "vhosts/{v}", b"{bad json"),
    ("GET", "vhosts/{v}", None),
    ("PUT", "vhosts/{v}", {"description": "d", "tags": "a"}),
    ("PUT", "vhosts/{v}", {"description": "d"}),
    ("GET", "nonsense", None),
    ("GET", "queues/{v}/nope", None),
    ("GET", "queues/A-{t}-missing", None),
    ("PUT", "queues/A-{t}-missing/q", {}),
    ("PUT", "permissions/{v}/guest", {"configure": "(", "write": ".*", "read": ".*"}),
    ("PUT", "permissions/{v}/A-{t}-nouser", ANY),
    ("PUT", "permissions/{v}/guest", {"configure": ".*"}),
    ("PUT", "permissions/{v}/guest", ANY),
    ("DELETE", "permissions/{v}/A-{t}-nouser", None),
    ("PUT", "queues/{v}/q", {"durable": True}),
    ("PUT", "queues/{v}/q", {"durable": True}),
    ("PUT", "queues/{v}/q", {"durable": False}),
    ("PUT", "queues/{v}/q3", {"durable": True, "arguments": {"x-max-length": "x"}}),
    ("GET", "queues/{v}/q3", None),
    ("PUT", "exchanges/{v}/e", {"type": "topic"}),
    ("PUT", "exchanges/{v}/e", {"type": "direct"}),
    ("PUT", "exchanges/{v}/e2", {"type": "nope"}),
    ("PUT", "exchanges/{v}/e3", {}),
    ("PUT", "exchanges/{v}/amq.foo", {"type": "direct"}),
    ("POST", "bindings/{v}/e/e/q/q", {"routing_key": "k", "arguments": {}}),
    ("POST", "bindings/{v}/e/nox/q/q", {"routing_key": "k", "arguments": {}}),
    ("POST", "bindings/{v}/e/e/q/noq", {"routing_key": "k", "arguments": {}}),
    ("GET", "bindings/{v}/e/e/q/q/k", None),
    ("GET", "bindings/{v}/e/e/q/q/nokey", None),
    ("DELETE", "bindings/{v}/e/e/q/q/nokey", None),
    ("POST", "exchanges/{v}/amq.default/publish", {**PUBLISH, "routing_key": "q"}),
    ("POST", "exchanges/{v}/amq.default/publish", {**PUBLISH, "routing_key": "zz"}),
    ("POST", "exchanges/{v}/e/publish", {**PUBLISH, "routing_key": "k"}),
    ("POST", "exchanges/{v}/nox/publish", {**PUBLISH, "routing_key": "k"}),
    ("POST", "queues/{v}/q/get", {"count": 5, "ackmode": "ack_requeue_true", "encoding": "auto"}),
    ("POST", "queues/{v}/q/get", {"count": 5}),
    ("POST", "queues/{v}/nope/get", {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"}),
    ("POST", "queues/{v}/q/get", {"count": 1, "ackmode": "ack_requeue_false", "encoding": "base64"}),
    ("DELETE", "queues/{v}/q/contents", None),
    ("DELETE", "queues/{v}/nothere", None),
    ("DELETE", "exchanges/{v}/nothere", None),
    ("DELETE", "exchanges/{v}/amq.direct", None),
    ("PUT", "policies/{v}/p", {"pattern": ".*", "definition": {"bogus": 1}}),
    ("PUT", "policies/{v}/p", {"pattern": ".*", "definition": {"max-length": "x"}}),
    ("PUT", "policies/{v}/p", {"pattern": ".*"}),
    ("PUT", "policies/{v}/p", {"pattern": "^zz", "definition": {"max-length": 1}, "apply-to": "queues"}),
    ("PUT", "policies/{v}/p", {"pattern": "^zz", "definition": {"max-length": 2}, "apply-to": "queues"}),
    ("GET", "policies/{v}/p", None),
    ("DELETE", "policies/{v}/nop", None),
    ("DELETE", "policies/{v}/p", None),
    ("PUT", "vhost-limits/{v}/max-queues", {"value": -5}),
    ("PUT", "vhost-limits/{v}/bogus", {"value": 5}),
    ("PUT", "vhost-limits/{v}/max-queues", {"value": "ten"}),
    ("PUT", "vhost-limits/{v}/max-queues", {}),
    ("PUT", "vhost-limits/A-{t}-missing/max-queues", {"value": 1}),
    ("PUT", "user-limits/A-{t}-missing/max-channels", {"value": 1}),
    ("PUT", "operator-policies/{v}/op", {"pattern": ".*", "definition": {"dead-letter-exchange": "x"}}),
    (
        "PUT",
        "operator-policies/{v}/op",
        {"pattern": ".*", "definition": {"max-length": 3}, "apply-to": "queues"},
    ),
    ("GET", "operator-policies/{v}", None),
    ("DELETE", "operator-policies/{v}/op", None),
    ("GET", "vhost-limits/{v}", None),
    ("DELETE", "vhost-limits/{v}/max-queues", None),
    ("GET", "vhost-limits/{v}", None),
    ("PUT", "users/A-{t}-bh", {"password_hash": "!!!", "tags": ""}),
    ("GET", "users/A-{t}-bh", None),
    ("PUT", "users/A-{t}-u", {"password": "p", "tags": "monitoring"}),
    ("PUT", "users/A-{t}-u", {"password": "p", "tags": "management"}),
    ("PUT", "user-limits/A-{t}-u/max-foo", {"value": 1}),
    ("PUT", "user-limits/A-{t}-u/max-channels", {"value": 4}),
    ("GET", "user-limits/A-{t}-u", None),
    ("PUT", "topic-permissions/{v}/A-{t}-u", {"exchange": "amq.topic", "write": "(", "read": ".*"}),
    ("PUT", "topic-permissions/{v}/A-{t}-u", {"write": ".*", "read": ".*"}),
    ("GET", "topic-permissions/{v}/A-{t}-u", None),
    ("GET", "whoami", USER),
    ("GET", "users", USER),
    ("GET", "queues/{v}", USER),
    ("PUT", "policies/{v}/p2", USER),
    ("PUT", "permissions/{v}/A-{t}-u", {"configure": "^a", "write": ".*", "read": ".*"}),
    ("PUT", "queues/{v}/bq", USER),
    ("PUT", "queues/{v}/aq", USER),
    ("DELETE", "queues/{v}/aq", USER),
    ("PUT", "queues/{v}/bq2", {}),
    ("DELETE", "queues/{v}/bq2", USER),
    ("GET", "connections", USER),
    ("PUT", "permissions/{v}/A-{t}-u", {"configure": "^a", "write": "^a", "read": "^a"}),
    (
        "POST",
        "queues/{v}/bq2/get",
        {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto", "as": USER},
    ),
    ("POST", "exchanges/{v}/amq.default/publish", {**PUBLISH, "routing_key": "bq2", "as": USER}),
    ("POST", "exchanges/{v}/e/publish", {**PUBLISH, "routing_key": "k", "as": USER}),
    ("PUT", "users/A-{t}-u", {"tags": "management"}),  # no password: the old one no longer works
    ("GET", "whoami", USER),
    ("DELETE", "users/A-{t}-u", None),
    ("GET", "whoami", ("A-{t}-u", "p")),
    ("PATCH", "vhosts/{v}", None),
    ("DELETE", "connections/A-{t}-nonexistent", None),
    ("GET", "aliveness-test/{v}", None),
    ("GET", "health/checks/alarms", None),
    ("GET", "health/checks/local-alarms", None),
    ("GET", "health/checks/virtual-hosts", None),
    ("GET", "health/checks/node-is-quorum-critical", None),
    ("GET", "health/checks/ready-to-serve-clients", None),
    ("GET", "aliveness-test/A-{t}-missing", None),
    ("GET", "queues/{v}?page=1&page_size=2&columns=name,durable", None),
    ("GET", "queues/{v}?page=2&page_size=2&columns=name", None),
    ("GET", "queues/{v}?page=1&page_size=5&name=Q&columns=name", None),
    ("GET", "queues/{v}?page=1&name=%5Ebq&use_regex=true&columns=name", None),
    ("GET", "queues/{v}?columns=name,arguments.x-queue-type&sort=name&sort_reverse=true", None),
    ("GET", "queues/{v}?page=99&page_size=2", None),
    ("GET", "queues/{v}?page=x", None),
    ("GET", "queues/{v}?page=1&page_size=600", None),
    ("GET", "vhosts/{v}?columns=name,tracing", None),
    ("POST", "definitions/{v}", Form(b"{}")),
    ("POST", "definitions/{v}", _definitions(queues=[FRESH], exchanges=[BAD_EXCHANGE])),
    ("GET", "queues/{v}/fresh", None),
    ("PUT", "queues/{v}/dq", {"durable": False}),
    ("POST", "definitions/{v}", _definitions(queues=[{**FRESH, "name": "dq"}])),
    ("GET", "definitions/{v}", None),
    (
        "POST",
        "definitions/{v}",
        _definitions(
            bindings=[
                {
                    "source": "nox",
                    "destination": "dq",
                    "destination_type": "queue",
                    "routing_key": "k",
                    "arguments": {},
                }
            ]
        ),
    ),
    (
        "POST",
        "definitions/{v}",
        _definitions(
            policies=[
                {
                    "name": "p",
                    "pattern": "(",
                    "definition": {"max-length": 1},
                    "priority": 0,
                    "apply-to": "queues",
                }
            ]
        ),
    ),
    ("POST", "definitions/{v}", b"[1,2]"),
    ("POST", "definitions/{v}", b"{bad"),
    ("POST", "definitions/{v}", _definitions(queues=[{**FRESH, "name": "ok2"}])),
    ("GET", "queues/{v}/ok2", None),
    ("DELETE", "vhosts/{v}", None),
    ("DELETE", "vhosts/{v}", None),
)


def run(base: str, token: str) -> Iterator[tuple[str, Reply]]:
    vhost = f"A-{token}-vh"
    for method, path, body in STEPS:
        where = "/api/" + path.format(v=urllib.parse.quote(vhost, safe=""), t=token)
        if isinstance(body, tuple):  # as another user, with no body
            user = (body[0].format(t=token), body[1])
            reply = http(base, method, where, {} if method == "PUT" else None, auth=user)
        elif isinstance(body, dict) and "as" in body:
            user = (body["as"][0].format(t=token), body["as"][1])
            sent = {key: value for key, value in body.items() if key != "as"}
            reply = http(base, method, where, sent, auth=user)
        elif isinstance(body, Form):
            reply = http(
                base,
                method,
                where,
                raw=bytes(body),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        elif isinstance(body, bytes):
            reply = http(base, method, where, raw=body)
        else:
            reply = http(base, method, where, body)
        yield f"{method} {path}", reply


def compared(step: str, reply: Reply, token: str) -> Any:
    """What must agree: the status, the body with our names replaced, and where a POST says
    the new binding is (the overview of a shared broker: its status only)."""
    body = reply.json if reply.raw else None
    if step == "GET overview":
        return reply.status
    if step == "GET queues/{v}/ok2" or step == "GET queues/{v}/fresh":
        return reply.status  # whether the import made it
    if step == "GET definitions/{v}" and isinstance(body, dict):
        body = sorted((queue["name"], queue["durable"]) for queue in body["queues"])
    text = json.dumps(body, sort_keys=True).replace(f"A-{token}", "A-TOKEN")
    location = reply.headers.get("location")
    return reply.status, text, location


@pytest.fixture(scope="module", params=VERSIONS)
def answers(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[Any], list[Any]]]:
    version: str = request.param
    real_base = management_url_for(require_real_broker(version)).replace("guest:guest@", "").rstrip("/")
    sim = EmbeddedBroker(profile=version)
    assert sim.admin is not None
    sim_base = f"http://127.0.0.1:{sim.admin.port}"
    token = secrets.token_hex(3)
    try:
        real = [(step, compared(step, reply, token)) for step, reply in run(real_base, token)]
        mine = [(step, compared(step, reply, token)) for step, reply in run(sim_base, token)]
        yield version, real, mine
    finally:
        for base in (real_base, sim_base):
            http(base, "DELETE", f"/api/vhosts/A-{token}-vh")
            for user in ("bh", "u"):
                http(base, "DELETE", f"/api/users/A-{token}-{user}")
        sim.close()


def test_same_answers_to_the_same_requests(answers: tuple[str, list[Any], list[Any]]) -> None:
    version, real, mine = answers
    differences = [
        f"{step}:\n    RabbitMQ {version}: {theirs}\n    simulator: {ours}"
        for (step, theirs), (_, ours) in zip(real, mine, strict=True)
        if theirs != ours
    ]
    assert not differences, "\n".join(differences)
