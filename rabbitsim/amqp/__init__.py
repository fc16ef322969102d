"""AMQP 0-9-1 on the wire: real clients (pika, aio-pika, kombu, amqp-tools, amqplib) talk
to the broker core through this adapter. pamqp encodes and decodes every frame."""

from ._connection import CAPABILITIES, AMQPConnection, State
from ._server import AMQPServer

__all__ = ["CAPABILITIES", "AMQPConnection", "AMQPServer", "State"]
