"""The dashboard as a person sees it: a real headless Chromium (Debian's, through playwright)
opens `/`, logs in with the prefilled guest/guest, and sees a queue's ready and unacked counts,
a connection and the exchanges, refreshed as they change. Without chromium (see
`.ci/browser.sh`) the test fails and says so."""

from __future__ import annotations

import time
from pathlib import Path

import pika
import pytest

from rabbitsim.backends import EmbeddedBroker

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = Path("/usr/bin/chromium")


def test_dashboard_shows_queues_connections_and_exchanges(sim: EmbeddedBroker, base: str) -> None:
    if sync_playwright is None or not CHROMIUM.exists():
        pytest.fail("the dashboard test needs playwright and /usr/bin/chromium (run .ci/browser.sh as root)")
    connection = pika.BlockingConnection(
        pika.ConnectionParameters(
            "127.0.0.1", sim.port, heartbeat=0, client_properties={"connection_name": "A-dashboard"}
        )
    )
    channel = connection.channel()
    channel.queue_declare("A-dashboard-q")
    channel.basic_publish("", "A-dashboard-q", b"one")
    errors: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(base + "/")
            page.click("#login button")  # guest / guest are prefilled
            row = page.locator("#queues tbody tr", has_text="A-dashboard-q")
            row.wait_for(timeout=10_000)
            assert row.locator("td").nth(3).inner_text() == "1"  # ready
            assert "A-dashboard" in page.locator("#connections tbody").inner_text()
            assert "amq.topic" in page.locator("#exchanges tbody").inner_text()
            channel.basic_publish("", "A-dashboard-q", b"two")
            deadline = time.monotonic() + 10
            while row.locator("td").nth(3).inner_text() != "2" and time.monotonic() < deadline:
                page.wait_for_timeout(200)  # the page polls every 2 s
            assert row.locator("td").nth(3).inner_text() == "2"
            assert "RabbitMQ 4.3.6" in page.locator("#version").inner_text()
            browser.close()
    finally:
        channel.queue_delete("A-dashboard-q")
        connection.close()
    assert errors == []
