"""A real RabbitMQ in a throwaway container, started through testcontainers.

The image must have the management plugin (the `-management` tags do): topology comes from
its HTTP API. The firehose is switched on inside the container, as `rabbitmqctl trace_on`
would, so traces can show the messages' paths."""

from __future__ import annotations

import os
import time
from typing import Any

from rabbitsim._interrupts import interrupt_deferred

from ._base import BackendUnavailable
from ._management import ManagementClient
from ._real import RealBroker

#: The current official release line, which the simulator's default profile follows. It still
#: accepts the transient non-exclusive queues the classic tutorials declare (measured on 4.3.6:
#: deprecated feature `transient_nonexcl_queues` is permitted by default). Pass `image=` or
#: RABBITSIM_IMAGE for another.
DEFAULT_IMAGE = "rabbitmq:4.3-management"
AMQP_PORT = 5672
MANAGEMENT_PORT = 15672


def _docker_problem() -> str | None:
    """Why Docker cannot be used here, or None when it can."""
    try:
        import docker
        import docker.errors
    except ImportError as error:  # pragma: no cover - testcontainers depends on it
        return f"the docker package is missing ({error})"
    try:
        client = docker.from_env()
        client.ping()
        client.close()
    except docker.errors.DockerException as error:
        return str(error)
    return None


def prepare_image(image: str) -> None:
    """Say what starting takes (one line: a learner otherwise waits in silence), and pull the
    image first if this machine lacks it, so that a pull that fails (no registry reachable, no
    such image) reads as what to do instead rather than as docker's `APIError 500`."""
    import docker
    import docker.errors

    client = docker.from_env()
    try:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            print(
                f"rabbitsim: pulling {image} (once; it can take minutes), then starting a RabbitMQ "
                "container from it (usually 10-20 s)...",
                flush=True,
            )
            try:
                client.images.pull(image)
            except docker.errors.APIError as error:
                raise BackendUnavailable(_unpullable(image, error, client)) from None
        else:
            print(f"rabbitsim: starting a RabbitMQ container from {image} (usually 10-20 s)...", flush=True)
    finally:
        client.close()


def _unpullable(image: str, error: Any, client: Any) -> str:
    """One sentence: why the pull failed, and the three ways on (the RabbitMQ images this
    machine has are named, as they are what RABBITSIM_IMAGE can take)."""
    why = str(error.explanation or error).strip()
    local = sorted(tag for found in client.images.list() for tag in found.tags if "rabbitmq" in tag)
    has = f" ({', '.join(local[:3])})" if local else ""
    return (
        f"the image {image} could not be pulled ({why}): set RABBITSIM_IMAGE to an image this machine "
        f"has{has}, or RABBITSIM_URL to a RabbitMQ you run, or use the simulator, rabbitsim.start('sim')."
    )


class ContainerBroker(RealBroker):
    """A RabbitMQ container owned by this handle: `close()` stops and removes it."""

    backend = "container"

    def __init__(self, image: str | None = None, **container_options: Any) -> None:
        self.image = image or os.environ.get("RABBITSIM_IMAGE") or DEFAULT_IMAGE
        problem = _docker_problem()
        if problem is not None:
            raise BackendUnavailable(
                f"the container backend needs a running Docker engine, and none answers ({problem}). "
                "Use the simulator (rabbitsim.start('sim'), the default) or an existing broker "
                "(rabbitsim.start('url', url='amqp://...') or RABBITSIM_URL)."
            )
        from testcontainers.community.rabbitmq import RabbitMqContainer

        began = time.monotonic()
        prepare_image(self.image)
        self.container = RabbitMqContainer(self.image, **container_options).with_exposed_ports(
            MANAGEMENT_PORT
        )
        self.container.start()
        try:
            self._reached()
        except BaseException:
            self.container.stop()
            raise
        self._say_ready("is ready", began)

    def _reached(self) -> None:
        """Where the (re)started container's ports are now, and the firehose on again."""
        host = self.container.get_container_host_ip()
        amqp_port = self.container.get_exposed_port(AMQP_PORT)
        management_port = self.container.get_exposed_port(MANAGEMENT_PORT)
        user, password = self.container.username, self.container.password
        self.url = f"amqp://{user}:{password}@{host}:{amqp_port}/%2F"
        self.management_url = f"http://{user}:{password}@{host}:{management_port}/"
        self.management = ManagementClient(self.management_url)
        self.rabbitmqctl("trace_on")

    def restart(self, *, kill: bool = False) -> None:
        """`docker stop` (RabbitMQ gets SIGTERM and stops cleanly) or `docker kill` (SIGKILL),
        then start the same container, with its data: its host ports may change, so may `.url`."""
        how = "docker kill" if kill else "docker stop"
        print(
            f"rabbitsim: restarting the RabbitMQ container ({how}, then start; usually 5-20 s)...", flush=True
        )
        began = time.monotonic()
        with interrupt_deferred():  # half a restart would leave the container stopped
            wrapped = self.container.get_wrapped_container()
            if kill:
                wrapped.kill()
            else:
                wrapped.stop(timeout=60)
            wrapped.start()
            self.container.readiness_probe()
            self._reached()
        self._say_ready("is back", began)

    def _say_ready(self, state: str, began: float) -> None:
        """The line that ends a start's or restart's wait: how long it took, and where it is."""
        print(f"rabbitsim: RabbitMQ {state} ({time.monotonic() - began:.0f} s): {self.shown_url}", flush=True)

    def rabbitmqctl(self, *arguments: str) -> str:
        """Run `rabbitmqctl` inside the container; its output, or an error with it."""
        code, output = self.container.exec(["rabbitmqctl", *arguments])
        text = output.decode(errors="replace") if isinstance(output, bytes) else str(output)
        if code != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(arguments)} failed ({code}): {text}")
        return text

    def _shutdown(self) -> None:
        self.container.stop()
