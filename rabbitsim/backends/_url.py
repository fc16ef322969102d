"""An existing RabbitMQ, reached by URL: a local install, a broker CI started, a cloud one."""

from __future__ import annotations

import os
import urllib.parse

import pika
import pika.exceptions

from ._base import BackendUnavailable, with_credentials
from ._local import LocalBroker
from ._management import MANAGEMENT_PORT_OFFSET, ManagementClient
from ._real import RealBroker

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def management_url_for(url: str) -> str:
    """The management API of the broker at `url`: same host and credentials, and the AMQP port
    plus 10000 (15672 for the default 5672). Give `management_url` when a broker differs."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    root = f"http://{host}:{(parts.port or 5672) + MANAGEMENT_PORT_OFFSET}/"
    return with_credentials(
        root, urllib.parse.unquote(parts.username or "guest"), urllib.parse.unquote(parts.password or "guest")
    )


class UrlBroker(RealBroker):
    """A broker someone else runs. `close()` forgets it; the broker keeps running."""

    backend = "url"

    def __init__(self, url: str | None = None, *, management_url: str | None = None) -> None:
        self.url = url or os.environ.get("RABBITSIM_URL") or DEFAULT_URL
        self.management_url = (
            management_url or os.environ.get("RABBITSIM_MANAGEMENT_URL") or management_url_for(self.url)
        )
        self.management = ManagementClient(self.management_url)
        self._check_reachable()

    def _check_reachable(self) -> None:
        parameters = pika.URLParameters(self.url)
        parameters.connection_attempts = 1
        parameters.socket_timeout = 5
        try:
            pika.BlockingConnection(parameters).close()
        except pika.exceptions.AMQPError as error:
            raise BackendUnavailable(
                f"no RabbitMQ answers at {self.url} ({error!r}). Start one, give another URL "
                "(rabbitsim.start('url', url=...) or RABBITSIM_URL), or use the simulator: "
                "rabbitsim.start('sim')."
            ) from error

    @property
    def local(self) -> LocalBroker | None:
        """The broker's entry if this project's scripts started it on this machine, else None."""
        return LocalBroker.find(self.url)

    def _local_or_refuse(self, what: str) -> LocalBroker:
        local = self.local
        if local is None:
            raise BackendUnavailable(
                f"cannot {what} the RabbitMQ at {self.url}: it is not one this project's scripts started "
                "on this machine (.ci/brokers/*.sh), so it is someone else's to manage. Use rabbitmqctl "
                "where it runs, or the simulator (rabbitsim.start('sim')), which can do this."
            )
        return local

    def rabbitmqctl(self, *arguments: str) -> str:
        """Run `rabbitmqctl` on this broker, if this project's scripts started it here."""
        return self._local_or_refuse("run rabbitmqctl on").rabbitmqctl(*arguments)

    def restart(self, *, kill: bool = False) -> None:
        """Restart (or kill and start) the broker with the script that started it; only for
        brokers this project's scripts started on this machine."""
        local = self._local_or_refuse("restart")
        if kill:
            local.act("kill")
            local.act("start")
        else:
            local.act("restart")

    def _shutdown(self) -> None:
        """Nothing to stop: the broker is not ours."""
