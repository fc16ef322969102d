"""The management API's request and answer, independent of the HTTP library: a `Call` (who
asks, what path arguments, what body) goes to an endpoint, which returns an `Answer` or raises
`ApiError`. Routes are a table of path patterns; access levels are RabbitMQ's user tags."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rabbitsim.broker import AMQPError, Broker, User

from ._views import View

#: RabbitMQ's management tags, and which grant each access level (`rabbit_mgmt_util`).
MANAGEMENT, POLICYMAKER, MONITORING, ADMINISTRATOR = (
    "management",
    "policymaker",
    "monitoring",
    "administrator",
)
GRANTS: dict[str, frozenset[str]] = {
    MANAGEMENT: frozenset({MANAGEMENT, POLICYMAKER, MONITORING, ADMINISTRATOR}),
    POLICYMAKER: frozenset({POLICYMAKER, ADMINISTRATOR}),
    MONITORING: frozenset({MONITORING, ADMINISTRATOR}),
    ADMINISTRATOR: frozenset({ADMINISTRATOR}),
}
#: the reason of the 401 when a user lacks the tag an endpoint needs (measured on 3.10-4.3)
REFUSED_REASONS = {
    MANAGEMENT: "Not management user",
    POLICYMAKER: "User not authorised to access object",
    MONITORING: "Not monitor user",
    ADMINISTRATOR: "Not administrator user",
}


class ApiError(Exception):
    """An error answer: HTTP status and RabbitMQ's `{"error": ..., "reason": ...}` body."""

    def __init__(self, status: int, error: str, reason: Any) -> None:
        super().__init__(f"{status} {error}: {reason}")
        self.status, self.error, self.reason = status, error, reason


def not_found() -> ApiError:
    """What RabbitMQ answers for a path naming nothing (`Object Not Found`)."""
    return ApiError(404, "Object Not Found", "Not Found")


def versioned(answer: tuple[int, str, str], **names: str) -> ApiError:
    """One of a version's measured answers (`ApiVersion`), with the names filled in."""
    status, error, reason = answer
    return ApiError(status, error, reason.format(**names))


def bad_request(reason: Any) -> ApiError:
    return ApiError(400, "bad_request", reason)


def not_authorised(reason: str) -> ApiError:
    return ApiError(401, "not_authorised", reason)


#: How the API reports an AMQP error from the operation it ran: 404 for NOT_FOUND, 401 for
#: ACCESS_REFUSED (with RabbitMQ's fixed text), 400 with the explanation for the rest.
AMQP_STATUS = {404: (404, "not_found"), 403: (401, "not_authorised")}


#: How an endpoint reports what its channel refused (measured): declares and deletes as
#: `AMQP_STATUS` says; a get with the whole reply text; a publish as 400 with code and text.
DECLARE, GET, PUBLISH = "declare", "get", "publish"


def from_amqp(error: AMQPError, style: str = DECLARE) -> ApiError:
    if style == PUBLISH:
        return bad_request(f"{error.reply_code} {error.reply_text}")
    status, kind = AMQP_STATUS.get(error.reply_code, (400, "bad_request"))
    if status == 401:
        return not_authorised(error.reply_text if style == GET else "Access refused.")
    _name, _, explanation = error.reply_text.partition(" - ")
    return ApiError(status, kind, explanation or error.reply_text)


@dataclass
class Answer:
    """An HTTP answer: `body` goes out as JSON, `text` as it is (the dashboard)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None


CREATED = 201
NO_CONTENT = 204


def done(created: bool) -> Answer:
    """A PUT's answer: 201 when it made something, 204 when it changed what was there."""
    return Answer(CREATED if created else NO_CONTENT)


@dataclass
class Call:
    """One request, authenticated: the core, the caller, the path arguments and the body."""

    broker: Broker
    view: View
    user: User
    method: str
    args: dict[str, str]
    query: Mapping[str, str]
    body: bytes
    headers: Mapping[str, str]
    #: where the API and the AMQP listener are (the overview lists them)
    host: str = "127.0.0.1"
    port: int = 0
    amqp_port: int = 0

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(self.user.tags)

    def has(self, level: str) -> bool:
        return bool(self.tags & GRANTS[level])

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (an empty body is `{}`, as RabbitMQ takes it)."""
        if not self.body.strip():
            return {}
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("not_json") from None
        if not isinstance(value, dict):
            raise bad_request("not_json")
        return value

    def sees_vhost(self, vhost: str) -> bool:
        """Monitoring and administrator users see every vhost; others, those they may use."""
        if self.has(MONITORING):
            return True
        return (self.user.name, vhost) in self.broker.permissions

    def sees_all_connections(self) -> bool:
        return self.has(MONITORING)


Endpoint = Callable[[Call], Answer | Any]


@dataclass(frozen=True)
class Route:
    """A path pattern (`{name}` segments capture) and, per method, the endpoint and the tag it needs."""

    pattern: tuple[str, ...]
    methods: dict[str, tuple[Endpoint, str]]

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        found: dict[str, str] = {}
        for part, segment in zip(self.pattern, segments, strict=True):
            if part.startswith("{"):
                found[part[1:-1]] = urllib.parse.unquote(segment)
            elif part != segment:
                return None
        return found


def route(path: str, **methods: tuple[Endpoint, str]) -> Route:
    return Route(tuple(path.split("/")), {name.upper(): value for name, value in methods.items()})
