"""The management API over HTTP: tornado (`_web`) on the event loop that owns the broker core, so a
request touches the core on the core's own thread, between AMQP frames. After each request,
`after` runs (the backend passes the AMQP server's flush): what the request put on the core's
output road (a connection closed by DELETE, deliveries a publish caused) goes out at once."""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import ipaddress
import socket
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from rabbitsim.broker import AMQPError, Broker

from ._dashboard import DASHBOARD_HTML
from ._http import REFUSED_REASONS, Answer, ApiError, Call, not_found
from ._listing import shaped
from ._rates import SAMPLE_SECONDS, Rates
from ._routes import ROUTES
from ._versions import API_VERSIONS
from ._views import View

#: what a 401 without credentials asks the client for
REALM = 'Basic realm="RabbitMQ Management"'


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def _error_body(error: ApiError) -> dict[str, Any]:
    return {"error": error.error, "reason": error.reason}


class AdminServer:
    """RabbitMQ's management API and a dashboard for a `Broker`, served on `loop` (the loop
    that owns the broker). Start and stop it from any thread."""

    def __init__(
        self,
        broker: Broker,
        loop: asyncio.AbstractEventLoop,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        amqp_port: int = 0,
        after: Callable[[], None] = lambda: None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.broker, self.loop, self.host = broker, loop, host
        self.amqp_port = amqp_port
        self.after = after
        self.rates = Rates()
        self._clock = clock or broker.clock
        self._sampler: asyncio.TimerHandle | None = None
        self._http: Any = None  # tornado's HTTPServer, once attached
        # The socket is bound and listening at once, so the port is known and connections
        # queue up; tornado (imported off the broker's thread, ~0.2 s) attaches to it after.
        self._listener = socket.create_server((host, port), family=socket.AF_INET)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._attaching = threading.Thread(target=self._attach, name="rabbitsim-admin", daemon=True)
        self._attaching.start()

    @property
    def url(self) -> str:
        """The API's root, with the default credentials, as `ManagementClient` takes it."""
        return f"http://guest:guest@{self.host}:{self.port}/"

    def _attach(self) -> None:
        from ._web import serve  # tornado

        async def start() -> Any:
            self._sample()
            return serve(self, self._listener)

        if not self.loop.is_running():
            return
        # the broker may stop before the API attaches: then there is nothing to serve
        with contextlib.suppress(RuntimeError, TimeoutError, concurrent.futures.CancelledError):
            self._http = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def _sample(self) -> None:
        self.rates.sample(self.broker, self._clock())
        self._sampler = self.loop.call_later(SAMPLE_SECONDS, self._sample)

    def close(self) -> None:
        """Stop listening and drop open HTTP connections (before the loop itself stops)."""
        self._attaching.join(10)
        try:
            if self._http is not None and self.loop.is_running():

                async def stop() -> None:
                    if self._sampler is not None:
                        self._sampler.cancel()
                    self._http.stop()
                    await self._http.close_all_connections()

                asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        finally:
            self._http = None
            self._listener.close()

    def answer(
        self, method: str, path: str, query: str, body: bytes, headers: Any, peer: str | None
    ) -> Answer:
        """Any request's answer: the dashboard at `/`, the API under `/api/`, errors as
        RabbitMQ words them."""
        if path in ("/", "/index.html"):
            return Answer(200, text=DASHBOARD_HTML, headers={"Content-Type": "text/html; charset=utf-8"})
        if not path.startswith("/api/"):
            return Answer(404, _error_body(not_found()))
        try:
            return self.handle(method, path[len("/api/") :], query, body, headers, _is_loopback(peer))
        except _Unauthenticated:
            return Answer(401, headers={"WWW-Authenticate": REALM})
        except ApiError as error:
            return Answer(error.status, _error_body(error))

    # --- one request ---------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, body: bytes, headers: Any, from_loopback: bool = True
    ) -> Answer:
        """Authenticate, find the route, check the caller's tags, run the endpoint; then let the
        core's output go (`after`), whatever happened."""
        user = self._authenticate(headers.get("Authorization"), from_loopback)
        segments = path.rstrip("/").split("/") if path.strip("/") else []
        for candidate in ROUTES:
            arguments = candidate.match(segments)
            if arguments is None:
                continue
            if method == "HEAD" and "GET" in candidate.methods:
                method = "GET"
            allowed = ", ".join(["HEAD", *candidate.methods, "OPTIONS"])
            if method == "OPTIONS":
                return Answer(200, headers={"Allow": allowed})
            if method not in candidate.methods:
                return Answer(405, headers={"Allow": allowed})
            endpoint, level = candidate.methods[method]
            call = Call(
                broker=self.broker,
                view=View(self.broker, API_VERSIONS[self.broker.profile.name], self.rates),
                user=user,
                method=method,
                args=arguments,
                query=dict(urllib.parse.parse_qsl(query, keep_blank_values=True)),
                body=body,
                headers=headers,
                host=self.host,
                port=self.port,
                amqp_port=self.amqp_port,
            )
            if not call.has(level):
                raise ApiError(401, "not_authorised", REFUSED_REASONS[level])
            self.broker.run_due()  # what has expired by now is gone from what we show
            try:
                result = endpoint(call)
            finally:
                self.after()
            if isinstance(result, Answer):
                return result
            return Answer(200, shaped(result, call.query) if method == "GET" else result)
        if not self._management(user):
            raise ApiError(401, "not_authorised", REFUSED_REASONS["management"])
        raise not_found()

    def _management(self, user: Any) -> bool:
        return bool(set(user.tags) & {"management", "policymaker", "monitoring", "administrator"})

    def _authenticate(self, header: str | None, from_loopback: bool) -> Any:
        """HTTP basic auth against the core's users; then any management tag is needed."""
        if not header:
            raise _Unauthenticated()
        scheme, _, token = header.partition(" ")
        try:
            username, _, password = base64.b64decode(token.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            username = password = ""
        version = API_VERSIONS[self.broker.profile.name]
        if scheme.lower() != "basic":
            raise ApiError(401, "not_authorized", version.login_failed)
        try:
            user = self.broker.authenticate(username, password, from_loopback=from_loopback)
        except AMQPError:
            raise ApiError(401, "not_authorized", version.login_failed) from None
        if not self._management(user):
            raise ApiError(401, "not_authorised", REFUSED_REASONS["management"])
        return user


class _Unauthenticated(ApiError):
    """No credentials at all: an empty 401 that asks for them."""

    def __init__(self) -> None:
        super().__init__(401, "", "")
