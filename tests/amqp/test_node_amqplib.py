"""node's amqplib against the server: tests/amqp/node/scenarios.js runs one scenario per process
and prints a JSON summary, which these tests check.

amqplib is the JavaScript client of the RabbitMQ tutorials, with its own codec and channel
machine; it announces consumer_cancel_notify and other capabilities pika does not use. The broker
comes from `clients.broker_target()`: the embedded simulator, or the real broker named by
RABBITSIM_CLIENT_TESTS_URL (how every expectation here was first checked against RabbitMQ 3.10.8
and 4.0.5). The script bounds its own run; the subprocess has a timeout besides.
amqplib is installed into tests/amqp/node by .ci/clients.sh; without it these tests fail."""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from .clients import NODE_DIR, Target, broker_target, require_node_modules, unique

SCENARIO_SECONDS = 10.0


@pytest.fixture
def target() -> Iterator[Target]:
    with broker_target() as found:
        yield found


def scenario(name: str, target: Target, entity: str) -> Any:
    """Run one scenario of scenarios.js against `target`; its parsed JSON result."""
    node = require_node_modules()
    result = subprocess.run(
        [node, str(NODE_DIR / "scenarios.js"), name, target.url, entity],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=SCENARIO_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"scenario {name} failed:\n{result.stderr}"
    return json.loads(result.stdout)


def test_work_queue_with_manual_ack_nack_and_cancel_notification(target: Target) -> None:
    """Prefetch 1, manual acks; a nack with requeue brings the task straight back, redelivered;
    persistent mode and message ids survive the trip; deleting the queue cancels the consumer."""
    result = scenario("work-queue", target, unique("task_queue"))
    bodies = ["task 0", "task 0", "task 1", "task 2", "task 3", "task 4"]
    assert [delivery["body"] for delivery in result["deliveries"]] == bodies
    assert [delivery["redelivered"] for delivery in result["deliveries"]] == [False, True] + [False] * 4
    assert {delivery["deliveryMode"] for delivery in result["deliveries"]} == {2}
    assert [delivery["messageId"] for delivery in result["deliveries"]] == [
        "m0",
        "m0",
        "m1",
        "m2",
        "m3",
        "m4",
    ]
    assert result["messageCount"] == 0
    assert result["cancelled"] is True


def test_topic_routing_to_exclusive_server_named_queues(target: Target) -> None:
    """The topics tutorial's table, through queues the broker names amq.gen-…"""
    result = scenario("topics", target, unique("topic_logs"))
    assert all(name.startswith("amq.gen-") for name in result["names"].values())
    assert result["Q1"] == ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox"]
    assert result["Q2"] == [
        "quick.orange.rabbit",
        "lazy.orange.elephant",
        "lazy.brown.fox",
        "lazy.pink.rabbit",
        "lazy.orange.new.rabbit",
        "lazy",
    ]


def test_confirm_channel_acks_and_returns(target: Target) -> None:
    """A confirm channel: every publish acked; a mandatory unroutable one returned with 312
    NO_ROUTE, and acked too."""
    name = unique("confirmed")
    result = scenario("confirms", target, name)
    assert result["outcomes"] == ["ack"] * 20
    assert result["messageCount"] == 20
    assert result["unroutable"] == "ack"
    assert result["returns"] == [
        {
            "replyCode": 312,
            "replyText": "NO_ROUTE",
            "exchange": "",
            "routingKey": f"{name}-nowhere",
            "body": "lost",
        }
    ]


def test_header_values_arrive_exactly(target: Target) -> None:
    """The broker relays headers untouched: amqplib's doubles come back to the last bit (JSON
    carries them exactly), integers, strings, nulls, arrays, tables and byte arrays too."""
    result = scenario("headers", target, unique("headers"))
    assert result == {
        "pi": math.pi,
        "tenth": 0.1,
        "tiny": 5e-324,
        "big": 2**53 - 1,
        "negative": -42,
        "text": "héllo wörld",
        "flag": True,
        "nothing": None,
        "list": [1, "two", 3.5, {"four": 4}],
        "nested": {"level1": {"level2": ["a", 2.25]}},
        "bytes": [0, 1, 254, 255],
    }


def test_channel_errors_carry_rabbitmq_codes_and_texts(target: Target) -> None:
    """406, 404 and 403 as amqplib reports them: the code, the failing method, RabbitMQ's text."""
    name = unique("errors")
    vhost = target.vhost
    result = scenario("errors", target, name)

    def expected(code: int, class_id: int, method: str, kind: str, text: str) -> dict[str, Any]:
        message = (
            f'Operation failed: {method}; {code} ({kind.replace("_", "-")}) with message "{kind} - {text}"'
        )
        return {"code": code, "classId": class_id, "methodId": 10, "message": message}

    assert result == {
        "inequivalent": expected(
            406,
            50,
            "QueueDeclare",
            "PRECONDITION_FAILED",
            f"inequivalent arg 'durable' for queue '{name}' in vhost '{vhost}': "
            "received 'true' but current is 'false'",
        ),
        "missingQueue": expected(
            404, 50, "QueueDeclare", "NOT_FOUND", f"no queue '{name}-absent' in vhost '{vhost}'"
        ),
        "missingExchange": expected(
            404, 40, "ExchangeDeclare", "NOT_FOUND", f"no exchange '{name}-absent' in vhost '{vhost}'"
        ),
        "reservedName": expected(
            403,
            40,
            "ExchangeDeclare",
            "ACCESS_REFUSED",
            "exchange name 'amq.mine' contains reserved prefix 'amq.*'",
        ),
    }
