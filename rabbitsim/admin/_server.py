"""The management API over HTTP: tornado on the event loop that owns the broker core, so a
request touches the core on the core's own thread, between AMQP frames. After each request,
`after` runs (the backend passes the AMQP server's flush): what the request put on the core's
output road (a connection closed by DELETE, deliveries a publish caused) goes out at once."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import json
import socket
import urllib.parse
from collections.abc import Callable
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

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
METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS")


class _Handler(tornado.web.RequestHandler):
    """Every path under the server: the dashboard at `/`, the API under `/api/`."""

    SUPPORTED_METHODS = METHODS

    def initialize(self, server: AdminServer) -> None:
        self.server = server

    def check_xsrf_cookie(self) -> None:  # an API: no cookies, no forms
        return

    def compute_etag(self) -> str | None:
        return None

    async def get(self) -> None:
        self._serve()

    async def put(self) -> None:
        self._serve()

    async def post(self) -> None:
        self._serve()

    async def delete(self) -> None:
        self._serve()

    async def patch(self) -> None:
        self._serve()

    async def head(self) -> None:
        self._serve()

    async def options(self) -> None:
        self._serve()

    def _serve(self) -> None:
        path = self.request.path
        if path in ("/", "/index.html"):
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(DASHBOARD_HTML)
            return
        if not path.startswith("/api/"):
            self._answer(Answer(404, _error_body(not_found())))
            return
        try:
            answer = self.server.handle(
                self.request.method or "GET",
                path[len("/api/") :],
                self.request.query,
                self.request.body or b"",
                self.request.headers,
                _is_loopback(self.request.remote_ip),
            )
        except _Unauthenticated:
            answer = Answer(401, headers={"WWW-Authenticate": REALM})
        except ApiError as error:
            answer = Answer(error.status, _error_body(error))
        self._answer(answer)

    def _answer(self, answer: Answer) -> None:
        self.set_status(answer.status)
        self.set_header("Cache-Control", "public, max-age=0, must-revalidate")
        self.set_header("Vary", "accept, accept-encoding, origin")
        for name, value in answer.headers.items():
            self.set_header(name, value)
        if answer.body is not None and answer.status not in (204, 304):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(answer.body, separators=(",", ":")))
        else:
            self.finish()


def _no_access_log(_handler: tornado.web.RequestHandler) -> None:
    """Quiet, as RabbitMQ's API is: a 404 is an answer, not something to warn about."""


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
        self._http: tornado.httpserver.HTTPServer | None = None
        self.port: int = asyncio.run_coroutine_threadsafe(self._start(port), loop).result(10)

    @property
    def url(self) -> str:
        """The API's root, with the default credentials, as `ManagementClient` takes it."""
        return f"http://guest:guest@{self.host}:{self.port}/"

    async def _start(self, port: int) -> int:
        sockets = tornado.netutil.bind_sockets(port, self.host, family=socket.AF_INET, reuse_port=False)
        application = tornado.web.Application(
            [(r"/.*", _Handler, {"server": self})], log_function=_no_access_log
        )
        self._http = tornado.httpserver.HTTPServer(application, xheaders=False)
        self._http.add_sockets(sockets)
        self._sample()
        bound: int = sockets[0].getsockname()[1]
        return bound

    def _sample(self) -> None:
        self.rates.sample(self.broker, self._clock())
        self._sampler = self.loop.call_later(SAMPLE_SECONDS, self._sample)

    def close(self) -> None:
        """Stop listening and drop open HTTP connections (before the loop itself stops)."""
        if self._http is None or self.loop.is_closed() or not self.loop.is_running():
            return

        async def stop() -> None:
            if self._sampler is not None:
                self._sampler.cancel()
            assert self._http is not None
            self._http.stop()
            await self._http.close_all_connections()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        finally:
            self._http = None

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
            if method not in candidate.methods:
                allowed = ", ".join(["HEAD", *candidate.methods, "OPTIONS"])
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
