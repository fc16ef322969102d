"""rabbitsim: learn RabbitMQ by running it, on a faithful simulated broker or a real one."""

__version__ = "0.1.0"
