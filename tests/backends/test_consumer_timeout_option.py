"""`rabbitsim.start("sim", consumer_timeout=..., channel_tick_interval=...)` sets RabbitMQ's settings
of those names (ms) in the simulator, in its own process or in this one. (Profile 4.0: RabbitMQ 4.3
closes no channel for it.)"""

from __future__ import annotations

import time
from typing import Any

import pika
import pytest

import rabbitsim


@pytest.mark.parametrize("in_process", [True, False])
def test_start_passes_the_consumer_timeout_on(in_process: bool) -> None:
    broker = rabbitsim.start(
        "sim", in_process=in_process, profile="4.0", consumer_timeout=1000, channel_tick_interval=1000
    )
    try:
        connection = pika.BlockingConnection(broker.parameters)
        channel = connection.channel()
        closed: list[Any] = []
        channel._impl.add_on_close_callback(lambda _c, reason: closed.append(reason))
        channel.queue_declare("work")
        channel.basic_publish("", "work", b"job")
        channel.basic_consume("work", lambda *_: None)
        deadline = time.monotonic() + 5
        while not closed and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.05)
        assert [(r.reply_code, r.reply_text.split(".")[0]) for r in closed] == [
            (406, "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out")
        ]
        assert connection.is_open
        connection.close()
    finally:
        broker.close()
