"""RabbitMQ's management HTTP API for the simulated broker, and a small dashboard.

Same paths, JSON fields, status codes and error bodies as RabbitMQ's management plugin
(measured on 3.10, 4.0 and 4.3; the broker's profile picks which), served by tornado on the
event loop that owns the core. An adapter on the core: it imports only the core and the
vocabulary; the backend composes it with the AMQP server."""

from ._routes import ROUTES
from ._server import AdminServer
from ._versions import API_VERSIONS, ApiVersion
from ._views import NODE

__all__ = ["API_VERSIONS", "NODE", "ROUTES", "AdminServer", "ApiVersion"]
