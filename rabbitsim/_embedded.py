"""The embedded simulator as a handle: a broker core served over AMQP on 127.0.0.1."""

from __future__ import annotations

import time
from types import TracebackType

import pika

from rabbitsim.amqp import AMQPServer
from rabbitsim.broker import Broker


class EmbeddedBroker:
    """A running simulated RabbitMQ. Connect with `.parameters` (pika) or `.url` (any client)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, profile: str = "4.0") -> None:
        self.broker = Broker(clock=time.monotonic, profile=profile)
        self.server = AMQPServer(self.broker, host, port)
        self.host = host
        self.port = self.server.port

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{self.host}:{self.port}/%2F"

    @property
    def parameters(self) -> pika.ConnectionParameters:
        return pika.ConnectionParameters(host=self.host, port=self.port)

    def close(self) -> None:
        self.server.close()

    def __enter__(self) -> EmbeddedBroker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddedBroker({self.url!r})"
