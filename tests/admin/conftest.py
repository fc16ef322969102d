"""A simulator with its management API for the tests here, and a raw HTTP helper that shows
status, headers and body as they are (ManagementClient raises on errors; here the errors are
what is tested)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from rabbitsim.backends import EmbeddedBroker


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw) if self.raw else None


def http(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    auth: tuple[str, str] | None = ("guest", "guest"),
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request to `base` + `path` (a path under the server, e.g. `/api/overview`)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    sent = {"Content-Type": "application/json", **(headers or {})}
    if auth is not None:
        sent["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Reply(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


@pytest.fixture(scope="module")
def sim() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker()
    yield broker
    broker.close()


@pytest.fixture
def base(sim: EmbeddedBroker) -> str:
    """The API's root without credentials."""
    assert sim.admin is not None
    return f"http://127.0.0.1:{sim.admin.port}"
