"""The scenarios, one module per topic. Importing this package registers them all."""

from tests.conformance.harness import REGISTRY, Scenario
from tests.conformance.scenarios import (  # noqa: F401  (imported to register)
    access,
    acks,
    confirms,
    consumer_timeout,
    declare,
    delivery,
    errors,
    headers,
    lifecycle,
    messages,
    policies,
    reliability,
    restarts,
    routing,
    sender_selected,
    streams,
    tx,
)

SCENARIOS: list[Scenario] = list(REGISTRY.values())

__all__ = ["SCENARIOS"]
