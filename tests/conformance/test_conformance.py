"""Every scenario on the simulator and on real RabbitMQ of each version: the outcomes must agree.

sim(profile 4.0) is compared with real 4.0, sim(profile 3.10) with real 3.10. Where a scenario
pins per-version outcomes (`expect`), the real broker must also still give exactly that."""

from __future__ import annotations

import pprint

import pytest

from tests.conformance.brokers import real_brokers
from tests.conformance.conftest import Brokers
from tests.conformance.harness import (
    RESULTS,
    Disagreement,
    PinnedOutcomeChanged,
    Scenario,
    differences,
    normalise,
    run,
    same,
)
from tests.conformance.scenarios import SCENARIOS

VERSIONS = list(real_brokers())
CASES = [pytest.param(s, v, id=f"{s.name}@{v}") for s in SCENARIOS for v in VERSIONS]


@pytest.mark.parametrize(("scenario", "version"), CASES)
def test_conformance(scenario: Scenario, version: str, brokers: Brokers) -> None:
    real = run(scenario, brokers.real(version), brokers.prefix())
    if scenario.expect is not None:
        if version not in scenario.expect:
            raise PinnedOutcomeChanged(f"{scenario.name} pins outcomes but not for RabbitMQ {version}")
        pinned = normalise(scenario.expect[version], "")
        if not same(real, pinned):
            raise PinnedOutcomeChanged(
                f"RabbitMQ {version} no longer gives the outcome {scenario.name} pins:\n"
                + "\n".join(differences(pinned, real))
            )
    sim = run(scenario, brokers.sim(version), brokers.prefix())
    RESULTS.append({"scenario": scenario.name, "version": version, "real": real, "sim": sim})
    if not same(real, sim):
        raise Disagreement(
            f"{scenario.name} on {version}: the simulator disagrees with RabbitMQ ({scenario.doc})\n"
            + "\n".join(differences(real, sim))
            + f"\n--- real RabbitMQ {version}:\n{pprint.pformat(real, width=110)}"
            + f"\n--- simulator (profile {version}):\n{pprint.pformat(sim, width=110)}"
        )


def test_enough_scenarios_with_reasons() -> None:
    """The suite promises at least 90 scenarios, each saying why it exists."""
    assert len(SCENARIOS) >= 90
    assert [s.name for s in SCENARIOS if not s.doc] == []
