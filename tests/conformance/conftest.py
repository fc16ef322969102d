"""Brokers for the conformance suite: one simulator per version profile, and the real RabbitMQ
of each version (RABBITSIM_REAL_BROKERS), which must be reachable: this suite fails, never skips,
when one is not, and says how to start it."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import pytest

import rabbitsim
from rabbitsim.backends import BrokerHandle
from tests.conformance.brokers import SIM_PROFILES, check_real_broker, real_brokers
from tests.conformance.harness import Target

ALL = ("3.10", "4.0", "4.3")

#: Where the simulator still disagrees with real RabbitMQ: "scenario@version" -> why.
#: Strict xfail: when the simulator is fixed the test passes unexpectedly, which fails the run,
#: so the entry must then be removed. The expectation itself is never bent to the simulator.
KNOWN_DIFFERENCES: dict[str, str] = {
    f"{name}@{version}": reason
    for name, versions, reason in [
        # simulator bugs
        (
            "unknown_exchange_type",
            ALL,
            "text says 'unknown exchange type'; RabbitMQ: 'invalid exchange type'",
        ),
        (
            "dead_lettered_copy_redelivered_flag",
            ("4.3",),
            "4.3 flags a copy dead-lettered by basic.reject (not nack) redelivered; the simulator "
            "does not tell reject from nack when dead-lettering",
        ),
    ]
    for version in versions
}


class Brokers:
    """Targets for each version, created on first use. A real broker that cannot be reached
    fails every test that needs it, with instructions."""

    def __init__(self) -> None:
        self.urls = real_brokers()
        self.token = uuid.uuid4().hex[:6]
        self.counter = 0
        self.sims: dict[str, BrokerHandle] = {}
        self.targets: dict[tuple[str, str], Target] = {}
        self.unreachable: dict[str, str] = {}

    def prefix(self) -> str:
        """A fresh name prefix: unique per run and per session, so runs never collide on a
        long-lived real broker."""
        self.counter += 1
        return f"cf-{self.token}-{self.counter}-"

    def real(self, version: str) -> Target:
        key = ("real", version)
        if key not in self.targets:
            if version in self.unreachable:
                pytest.fail(self.unreachable[version], pytrace=False)
            url = self.urls[version]
            problem = check_real_broker(version, url)
            if problem:
                self.unreachable[version] = problem
                pytest.fail(problem, pytrace=False)
            self.targets[key] = Target("real", version, url)
        return self.targets[key]

    def sim(self, version: str) -> Target:
        key = ("sim", version)
        if key not in self.targets:
            profile = SIM_PROFILES.get(version)
            if profile is None:
                pytest.fail(f"no simulator profile for RabbitMQ {version} (known: {sorted(SIM_PROFILES)})")
            # "sim" explicitly: RABBITSIM_BACKEND must not turn the simulator side into a real broker
            self.sims[version] = rabbitsim.start("sim", profile=profile)
            self.targets[key] = Target("sim", version, self.sims[version].url, self.sims[version])
        return self.targets[key]

    def close(self) -> None:
        for target in self.targets.values():
            target.close()
        for sim in self.sims.values():
            sim.close()


@pytest.fixture(scope="session")
def brokers() -> Iterator[Brokers]:
    handle = Brokers()
    try:
        yield handle
    finally:
        handle.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    from tests.conformance.harness import Disagreement

    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or not item.nodeid.startswith("tests/conformance/"):
            continue
        scenario = callspec.params.get("scenario")
        if scenario is not None:  # `-k access` selects the scenarios of scenarios/access.py
            item.extra_keyword_matches.add(scenario.topic)
        reason = KNOWN_DIFFERENCES.get(callspec.id)
        if reason:
            item.add_marker(pytest.mark.xfail(strict=True, raises=Disagreement, reason=reason))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """With RABBITSIM_CONFORMANCE_REPORT=path, write every outcome (real and sim) as JSON."""
    from tests.conformance.harness import RESULTS

    path = os.environ.get("RABBITSIM_CONFORMANCE_REPORT")
    if path and RESULTS:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(RESULTS, handle, indent=1, default=repr, ensure_ascii=False)
