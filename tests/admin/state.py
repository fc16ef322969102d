"""One administrative state, built the same way on any broker: through its management API
(vhost, user, permissions, topic permissions, limits, policies) and through AMQP with pika
(exchanges, queues, bindings, messages, a consumer holding one unacked message). The
differential test builds it on the simulator and on each real broker and compares what the
API then shows."""

from __future__ import annotations

import contextlib
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import pika

from rabbitsim.backends import ManagementClient, ManagementError


def quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


@dataclass
class State:
    """What was built: its names, and the open AMQP connection that keeps the consumer alive."""

    vhost: str
    user: str
    password: str
    connection: pika.BlockingConnection
    channel: Any
    consumer_tag: str
    token: str

    def close(self, api: ManagementClient) -> None:
        """Remove everything (deleting the vhost removes its queues, exchanges and policies)."""
        with contextlib.suppress(Exception):  # a connection already closed by the test
            self.connection.close()
        for path in (f"vhosts/{quote(self.vhost)}", f"users/{quote(self.user)}"):
            with contextlib.suppress(ManagementError):
                api.request("DELETE", path)


def build(api: ManagementClient, host: str, port: int, token: str | None = None) -> State:
    """The state, or (when building fails half-way) nothing left behind on the broker."""
    token = token or secrets.token_hex(4)
    vhost, user = f"A-{token}-vh", f"A-{token}-user"
    try:
        return _build(api, host, port, token, vhost, user)
    except BaseException:
        for path in (f"vhosts/{quote(vhost)}", f"users/{quote(user)}"):
            with contextlib.suppress(ManagementError):
                api.request("DELETE", path)
        raise


def _build(api: ManagementClient, host: str, port: int, token: str, vhost: str, user: str) -> State:
    password = f"pw-{token}"
    api.request("PUT", f"vhosts/{quote(vhost)}", {"description": "helper A", "tags": "a,b"})
    api.request("PUT", f"users/{quote(user)}", {"password": password, "tags": "management"})
    for who in ("guest", user):
        api.request(
            "PUT",
            f"permissions/{quote(vhost)}/{quote(who)}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
    api.request(
        "PUT",
        f"topic-permissions/{quote(vhost)}/{quote(user)}",
        {"exchange": "amq.topic", "write": "^a", "read": ".*"},
    )
    api.request("PUT", f"vhost-limits/{quote(vhost)}/max-queues", {"value": 50})
    api.request(
        "PUT",
        f"policies/{quote(vhost)}/limit",
        {"pattern": "^q2$", "definition": {"max-length": 100}, "priority": 1, "apply-to": "queues"},
    )
    connection = pika.BlockingConnection(
        pika.ConnectionParameters(
            host=host,
            port=port,
            virtual_host=vhost,
            credentials=pika.PlainCredentials("guest", "guest"),
            heartbeat=0,
            client_properties={"connection_name": f"A-{token}-conn"},
        )
    )
    channel = connection.channel()
    channel.exchange_declare("x1", "topic", durable=True)
    channel.exchange_declare(
        "x2", "fanout", durable=False, auto_delete=False, arguments={"alternate-exchange": "x1"}
    )
    channel.queue_declare("q1", durable=True, arguments={"x-message-ttl": 600000})
    channel.queue_declare("q2", durable=False, arguments={"x-max-length": 10})
    channel.queue_declare("q3", durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_declare("ex", exclusive=True)
    channel.queue_bind("q1", "x1", "a.*")
    channel.queue_bind("q2", "x2", "", arguments={"k": "v"})
    channel.exchange_bind("x2", "x1", "#")
    for number in range(3):
        channel.basic_publish("x1", "a.b", f"m{number}".encode())
    channel.basic_publish("", "q2", b"held")
    channel.basic_qos(prefetch_count=5)
    received: list[bytes] = []
    consumer_tag = channel.basic_consume(
        "q2", lambda _ch, _m, _p, body: received.append(body), consumer_tag="A-ctag"
    )
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.1)
    # q1: the 3 messages published to x1; q2: "held" and the same 3 again (x1 -> x2 -> q2), all
    # 4 delivered to the consumer (prefetch 5) and not acked
    return State(vhost, user, password, connection, channel, consumer_tag, token)


def settle(api: ManagementClient, state: State, *, timeout: float = 20.0) -> None:
    """Wait until the API's statistics show the whole state (a real broker emits them every
    few seconds; the simulator's are exact at once)."""
    vhost = quote(state.vhost)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        q1, q2 = api.get(f"queues/{vhost}/q1"), api.get(f"queues/{vhost}/q2")
        q3, ex = api.get(f"queues/{vhost}/q3"), api.get(f"queues/{vhost}/ex")
        channels = api.get(f"vhosts/{vhost}/channels")
        if (
            q1.get("messages_ready") == 3
            and q2.get("messages_unacknowledged") == 4
            and q2.get("messages") == 4
            and q2.get("consumers") == 1
            and api.get(f"consumers/{vhost}")
            and channels
            and channels[0].get("messages_unacknowledged") == 4
            and api.get(f"vhosts/{vhost}").get("messages") == 7
            # a quorum queue's and a fresh classic queue's full statistics come in a later
            # emission than their counts (3.10 under load: seconds later)
            and all(key in q3 for key in ("messages", "state", "memory"))
            and all(key in ex for key in ("messages", "state", "memory"))
        ):
            return
        time.sleep(0.25)
    raise AssertionError("the broker's statistics did not show the state in time")
