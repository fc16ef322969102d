"""The container backend for real: a RabbitMQ 4.3 container started by testcontainers from the
image `.ci/brokers/container-image.sh` builds, running a chapter-like work queue."""

from __future__ import annotations

import json
import urllib.request
from base64 import b64encode

import docker
import pika
import pytest

import rabbitsim
from rabbitsim.backends import ContainerBroker
from tests.real_brokers import require_container_image


@pytest.fixture
def no_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing can be pulled here: no Ryuk reaper (an image from Docker Hub), and reach the
    mapped ports through the Docker host rather than a gateway address."""
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("TESTCONTAINERS_CONNECTION_MODE", "docker_host")


def management_get(broker: ContainerBroker, path: str) -> object:
    assert broker.management_url is not None
    base = broker.management_url.split("@", 1)[1]
    request = urllib.request.Request(
        f"http://{base}api/{path}", headers={"Authorization": "Basic " + b64encode(b"guest:guest").decode()}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.mark.usefixtures("no_registry")
def test_a_work_queue_on_a_rabbitmq_container() -> None:
    image = require_container_image()
    broker = rabbitsim.start("container", image=image)
    assert isinstance(broker, ContainerBroker)
    container_id = broker.container.get_wrapped_container().id
    try:
        connection = pika.BlockingConnection(broker.parameters)
        channel = connection.channel()
        channel.queue_declare("task_queue", durable=True)
        for n in range(4):
            channel.basic_publish(
                "", "task_queue", f"task {n}".encode(), pika.BasicProperties(delivery_mode=2)
            )
        channel.basic_qos(prefetch_count=1)
        got: list[bytes] = []

        def work(
            ch: pika.adapters.blocking_connection.BlockingChannel, method: object, _p: object, body: bytes
        ) -> None:
            got.append(body)
            ch.basic_ack(method.delivery_tag)  # type: ignore[attr-defined]

        channel.basic_consume("task_queue", work)
        while len(got) < 4:
            connection.process_data_events(time_limit=5)
        assert got == [b"task 0", b"task 1", b"task 2", b"task 3"]
        queue = broker.topology().queue("task_queue")
        assert (queue.durable, queue.type) == (True, "classic")
        assert any(e.name == "amq.rabbitmq.trace" for e in broker.topology().exchanges)
        vhost = management_get(broker, "vhosts/%2F")
        assert isinstance(vhost, dict) and vhost["tracing"] is True  # the firehose is on
        overview = management_get(broker, "overview")
        assert isinstance(overview, dict) and overview["rabbitmq_version"].startswith("4.3")
        connection.close()
    finally:
        broker.close()
    client = docker.from_env()
    try:
        assert container_id not in {c.id for c in client.containers.list(all=True)}  # stopped and removed
    finally:
        client.close()
