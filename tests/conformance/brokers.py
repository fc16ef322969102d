"""Which real brokers the conformance suite compares against, and how to tell they are there."""

from __future__ import annotations

import os

import pika
import pika.exceptions

from tests.conformance.harness import parameters
from tests.real_brokers import real_brokers, start_if_needed

__all__ = ["SIM_PROFILES", "check_real_broker", "real_brokers"]

#: How to start the real broker of each version on this kind of machine.
START_HINTS = {
    "3.10": "bash .ci/brokers/host-rabbitmq.sh   (Debian's RabbitMQ 3.10 on port 5672)",
    "4.0": "bash .ci/brokers/trixie-rabbitmq.sh   (RabbitMQ 4.0 in a Debian trixie chroot on port 5673)",
    "4.3": "bash .ci/brokers/sid-rabbitmq.sh   (RabbitMQ 4.3 in a Debian sid chroot on port 5674)",
}

#: Simulator profile for each real broker version.
SIM_PROFILES = {"3.10": "3.10", "4.0": "4.0", "4.3": "4.3"}


def check_real_broker(version: str, url: str) -> str | None:
    """None if `url` is a RabbitMQ of `version` (started by its script if need be and
    possible), else a message saying what to do."""
    hint = START_HINTS.get(version, "start a RabbitMQ of that version and point RABBITSIM_REAL_BROKERS at it")
    start_if_needed(version, url)
    try:
        connection = pika.BlockingConnection(parameters(url))
    except (pika.exceptions.AMQPError, OSError) as exc:
        return (
            f"REAL RABBITMQ {version} IS NOT REACHABLE at {url} ({exc!r}).\n"
            f"The conformance suite compares the simulator with real RabbitMQ and never skips.\n"
            f"Start it with:  {hint}\n"
            f"or set RABBITSIM_REAL_BROKERS=version=url,... "
            f"(now: {os.environ.get('RABBITSIM_REAL_BROKERS', 'unset')})"
        )
    try:
        server = connection._impl.server_properties
        product = server.get("product", b"")
        found = server.get("version", b"")
        product = product.decode() if isinstance(product, bytes) else str(product)
        found = found.decode() if isinstance(found, bytes) else str(found)
    finally:
        connection.close()
    if product != "RabbitMQ" or not (found == version or found.startswith(version + ".")):
        return (
            f"the broker at {url} is {product} {found}, "
            f"but RABBITSIM_REAL_BROKERS lists it as RabbitMQ {version}.\n"
            f"Start the right one with:  {hint}"
        )
    return None
