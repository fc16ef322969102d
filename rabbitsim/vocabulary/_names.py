"""Names every RabbitMQ broker has. The core creates or answers to them and the layers above
recognise them, so they are written once, here, where both can import them."""

from __future__ import annotations

#: The exchanges every vhost is born with besides the default exchange "" (name, type).
STANDARD_EXCHANGES: tuple[tuple[str, str], ...] = (
    ("amq.direct", "direct"),
    ("amq.fanout", "fanout"),
    ("amq.topic", "topic"),
    ("amq.headers", "headers"),
    ("amq.match", "headers"),
)

#: Direct reply-to's pseudo-queue: a client consumes from it and names it in `reply_to`; the
#: broker rewrites that `reply_to` to a key with REPLY_KEY_PREFIX that names the channel.
REPLY_QUEUE = "amq.rabbitmq.reply-to"
REPLY_KEY_PREFIX = REPLY_QUEUE + "."

#: The firehose: with tracing on, a real RabbitMQ copies what its channels publish and deliver
#: to this topic exchange, which every vhost of it has. The simulator has none.
TRACE_EXCHANGE = "amq.rabbitmq.trace"
