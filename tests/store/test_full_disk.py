"""A disk that fills up while the store writes: the write fails, the disk alarm goes on (the
publisher is blocked), no confirm goes out for what was not stored, and once there is room again
everything is written and confirmed; nothing confirmed is lost. The data dir is a 3 MB tmpfs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pika
import pytest

import rabbitsim


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.fail("mounting a small tmpfs needs root (the tests run as root, as .ci/run does)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_blocks_publishers_and_loses_nothing_confirmed(small_disk: Path) -> None:
    data = small_disk / "data"
    ballast = small_disk / "ballast"
    broker = rabbitsim.start("sim", data_dir=data)
    try:
        broker.set_disk_free_limit(0)  # only a failed write raises the alarm here
        connection = pika.BlockingConnection(broker.parameters)
        channel = connection.channel()
        channel.queue_declare("big", durable=True)
        channel.confirm_delivery()
        with contextlib.suppress(OSError), ballast.open("ab") as filler:  # fill what is left
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        confirmed: list[int] = []

        def publish() -> None:
            for n in range(20):
                channel.basic_publish("", "big", os.urandom(100_000), pika.BasicProperties(delivery_mode=2))
                confirmed.append(n)

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        deadline = time.monotonic() + 10
        while "disk" not in broker.alarms() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "disk" in broker.alarms()
        stalled = len(confirmed)
        time.sleep(1.5)
        assert len(confirmed) == stalled < 20, "confirms went out for what could not be stored"
        ballast.unlink()  # room again
        broker.set_disk_free_limit(0)
        publisher.join(30)
        assert confirmed == list(range(20))
        connection.close()
        broker.restart(kill=True)
        channel = pika.BlockingConnection(broker.parameters).channel()
        assert channel.queue_declare("big", passive=True).method.message_count == 20
    finally:
        broker.close()
