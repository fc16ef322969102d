"""Restarts on the container backend: the restart conformance scenarios run on a RabbitMQ 4.3
container (`docker stop` / `docker kill`, then start) and on the simulator's 4.3 profile, and must
agree, as they do on the CI brokers."""

from __future__ import annotations

import pytest

import rabbitsim
from tests.conformance.harness import REGISTRY, Target, differences, run, same
from tests.conformance.scenarios import restarts  # noqa: F401  (registers the scenarios)
from tests.real_brokers import require_container_image


@pytest.fixture
def no_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("TESTCONTAINERS_CONNECTION_MODE", "docker_host")


@pytest.mark.usefixtures("no_registry")
def test_restart_scenarios_agree_on_a_container(capsys: pytest.CaptureFixture[str]) -> None:
    image = require_container_image()
    container = rabbitsim.start("container", image=image)
    simulator = rabbitsim.start("sim", profile="4.3")
    try:
        for number, name in enumerate(("what_a_clean_restart_keeps", "what_a_crash_keeps")):
            scenario = REGISTRY[name]
            real = run(scenario, Target("real", "4.3", container.url, container), f"ct{number}-")
            sim = run(scenario, Target("sim", "4.3", simulator.url, simulator), f"ct{number}-")
            assert same(real, sim), "\n".join(differences(real, sim))
    finally:
        container.close()
        simulator.close()
    said = capsys.readouterr().out.splitlines()
    announced = [line for line in said if "restarting the RabbitMQ container" in line]  # not silent
    assert any("(docker stop, then start; usually 5-20 s)" in line for line in announced), said
    assert any("(docker kill, then start; usually 5-20 s)" in line for line in announced), said
    assert len([line for line in said if line.startswith("rabbitsim: RabbitMQ is back (")]) == len(announced)
