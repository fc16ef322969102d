"""A worker that takes one message with manual ack and never acks it, then waits to be killed.

Usage: python never_ack.py PORT QUEUE. Prints "ready" once consuming and "got <body>" per message."""

from __future__ import annotations

import sys
import time

import pika


def main() -> None:
    port, queue = int(sys.argv[1]), sys.argv[2]
    connection = pika.BlockingConnection(
        pika.ConnectionParameters("127.0.0.1", port, connection_attempts=1, socket_timeout=5)
    )
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1)

    def on_message(ch: object, method: object, properties: object, body: bytes) -> None:
        print("got", body.decode(), flush=True)  # and never ack

    channel.basic_consume(queue, on_message, auto_ack=False)
    print("ready", flush=True)
    deadline = time.monotonic() + 30  # never outlive the test run if nobody kills us
    while time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.1)


if __name__ == "__main__":
    main()
