"""Users, vhosts, permissions, policies and limits are kept across a restart, clean or not, like
the rest of what RabbitMQ keeps; a deleted vhost stays deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from rabbitsim.broker import Broker, Properties
from rabbitsim.store import Store


def started(directory: Path) -> tuple[Broker, Store]:
    store = Store(directory)
    broker = Broker()
    store.load(broker)
    return broker, store


def run(broker: Broker, store: Store) -> None:
    for _connection, _number, item in broker.take_output():
        if _connection is None:
            store.take(item)  # type: ignore[arg-type]
    assert store.commit()


@pytest.mark.parametrize("crash", [False, True])
def test_administration_survives_a_restart(tmp_path: Path, crash: bool) -> None:
    broker, store = started(tmp_path)
    broker.add_user("alice", "pw", tags=["management"])
    broker.add_vhost("shop")
    broker.add_vhost("gone")
    broker.set_permissions("alice", "shop", "^orders", ".*", ".*")
    broker.set_permissions("guest", "shop", ".*", ".*", ".*")
    broker.set_policy("shop", "cap", "^orders$", {"max-length": 2})
    broker.set_vhost_limits("shop", {"max-connections": 5})
    channel = broker.connect("shop").open_channel(1)
    channel.queue_declare("orders", durable=True)
    for body in (b"1", b"2"):
        channel.basic_publish("", "orders", body, Properties(delivery_mode=2))
    broker.delete_vhost("gone")
    run(broker, store)
    before = broker.settings()
    if crash:
        store.abandon()
    else:
        store.close()

    again, store = started(tmp_path)
    assert again.settings() == before
    assert "gone" not in again.vhosts
    assert again.authenticate("alice", "pw").tags == ("management",)
    orders = again.vhosts["shop"].queues["orders"]
    assert orders.policy is not None and orders.max_length == 2
    assert len(orders.ready) == 2
    store.close()
