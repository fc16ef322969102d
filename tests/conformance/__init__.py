"""Conformance: every scenario runs on the simulator and on real RabbitMQ; outcomes must agree.

    .venv/bin/python -m pytest tests/conformance

Real brokers come from RABBITSIM_REAL_BROKERS (default: 3.10 on 5672, 4.0 on 5673, 4.3 on 5674;
start them with `.ci/brokers/host-rabbitmq.sh`, `trixie-rabbitmq.sh` and `sid-rabbitmq.sh`).
A missing broker fails the run. Scenarios live in `scenarios/` (one module per topic, registered
by `@scenario`), the harness in `harness.py`, known simulator differences in `conftest.py`
(KNOWN_DIFFERENCES, strict xfail). RABBITSIM_CONFORMANCE_REPORT=path writes every real and
simulated outcome as JSON."""
