"""What every real RabbitMQ handle shares, wherever the broker runs: the topology comes from the
management HTTP API, the events from the firehose."""

from __future__ import annotations

from abc import abstractmethod

from rabbitsim.vocabulary import Topology

from ._alarms import RealAlarms
from ._base import BrokerHandle
from ._firehose_source import FirehoseSource
from ._management import ManagementClient


class RealBroker(RealAlarms, BrokerHandle):
    """A real broker reached through `.url` and `.management`; subclasses say how it runs."""

    management: ManagementClient

    def topology(self) -> Topology:
        return self.management.topology()

    @abstractmethod
    def rabbitmqctl(self, *arguments: str) -> str:
        """Run `rabbitmqctl` on this broker's node; its output."""

    def events(self, *, timeout: float = 5.0, settle: float = 0.0) -> FirehoseSource:
        return FirehoseSource(self.url, self.management, timeout=timeout, settle=settle)
