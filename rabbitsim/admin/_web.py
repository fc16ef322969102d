"""tornado under the admin server: HTTP parsing and writing, nothing else. Imported only
when the server attaches to its socket (off the broker's thread), so starting a broker does
not wait for it."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

import tornado.httpserver
import tornado.web

from ._http import Answer

if TYPE_CHECKING:
    from ._server import AdminServer

METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS")


class _Handler(tornado.web.RequestHandler):
    """Every path and method: the admin server decides the answer."""

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
        request = self.request
        answer = self.server.answer(
            request.method or "GET",
            request.path,
            request.query,
            request.body or b"",
            request.headers,
            request.remote_ip,
        )
        self._write(answer)

    def _write(self, answer: Answer) -> None:
        self.set_status(answer.status)
        self.set_header("Cache-Control", "public, max-age=0, must-revalidate")
        self.set_header("Vary", "accept, accept-encoding, origin")
        for name, value in answer.headers.items():
            self.set_header(name, value)
        if answer.text is not None:
            self.finish(answer.text)
        elif answer.body is not None and answer.status not in (204, 304):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(answer.body, separators=(",", ":")))
        else:
            self.finish()


def _no_access_log(_handler: tornado.web.RequestHandler) -> None:
    """Quiet, as RabbitMQ's API is: a 404 is an answer, not something to warn about."""


def serve(server: AdminServer, listener: socket.socket) -> Any:
    """Serve `server` on the listening socket; call on the loop that owns the broker."""
    application = tornado.web.Application(
        [(r"/.*", _Handler, {"server": server})], log_function=_no_access_log
    )
    http = tornado.httpserver.HTTPServer(application)
    http.add_sockets([listener])
    return http
