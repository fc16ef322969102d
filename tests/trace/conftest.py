"""Brokers for the trace tests: a fresh simulator per test, and each real RabbitMQ reached in a
vhost of its own. Other suites use the real brokers' `/` at the same time; a vhost has its own
firehose, so their traffic never shows in these traces. The vhost is made afresh once per run
with tracing off, so every real recording also proves it switches the firehose on and back off."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import pytest

import rabbitsim
from rabbitsim.backends import BrokerHandle, EmbeddedBroker, ManagementError, UrlBroker
from tests.real_brokers import require_real_broker

VERSIONS = ["3.10", "4.0", "4.3"]
VHOST = "rabbitsim-trace-tests"

_prepared: set[str] = set()


@pytest.fixture
def sim() -> Iterator[EmbeddedBroker]:
    with rabbitsim.start("sim", in_process=True) as broker:  # these tests look inside
        assert isinstance(broker, EmbeddedBroker)
        yield broker


def _fresh_vhost(version: str) -> str:
    """The URL of VHOST on the real broker of `version`, emptied once per run."""
    url = require_real_broker(version)
    parts = urllib.parse.urlsplit(url)
    vhost_url = urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(VHOST, safe="")))
    if version not in _prepared:
        management = UrlBroker(url).management
        try:
            management.request("DELETE", f"vhosts/{VHOST}")
        except ManagementError as error:
            if "404" not in str(error):
                raise
        management.request("PUT", f"vhosts/{VHOST}", {"tracing": False})
        management.request(
            "PUT",
            f"permissions/{VHOST}/{management.username}",
            {"configure": ".*", "write": ".*", "read": ".*"},
        )
        _prepared.add(version)
    return vhost_url


@pytest.fixture(params=VERSIONS)
def real(request: pytest.FixtureRequest) -> Iterator[BrokerHandle]:
    """A real broker of each version, in the trace tests' own vhost."""
    with rabbitsim.start("url", url=_fresh_vhost(request.param)) as broker:
        yield broker
