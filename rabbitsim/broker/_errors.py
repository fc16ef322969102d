"""AMQP errors as the core raises them.

Reply codes and method ids are derived from pamqp's protocol tables (never retyped), so the
wire adapter and the core agree on every number. Soft errors close a channel, hard errors
close the connection; the class of the exception says which.
"""

from __future__ import annotations

from typing import Any

from pamqp import commands, constants, exceptions

#: reply code -> RabbitMQ's name for it ("NOT_FOUND"), derived from pamqp's table.
REPLY_NAMES: dict[int, str] = {
    code: str(cls.name).replace("-", "_")  # type: ignore[attr-defined]
    for code, cls in exceptions.CLASS_MAPPING.items()
}

#: "queue.declare" -> (class id, method id), derived from pamqp's index of methods.
METHOD_IDS: dict[str, tuple[int, int]] = {
    str(cls.name).lower(): divmod(index, 0x10000)  # type: ignore[attr-defined]
    for index, cls in commands.INDEX_MAPPING.items()
}

#: A normal close (channel.close / connection.close with no error).
REPLY_SUCCESS: int = constants.REPLY_SUCCESS
#: The reply codes the core raises or sends, under RabbitMQ's names (pamqp's exception classes
#: carry each code as `value`).
NO_ROUTE: int = exceptions.AMQPNoRoute.value
ACCESS_REFUSED: int = exceptions.AMQPAccessRefused.value
NOT_FOUND: int = exceptions.AMQPNotFound.value
RESOURCE_LOCKED: int = exceptions.AMQPResourceLocked.value
PRECONDITION_FAILED: int = exceptions.AMQPPreconditionFailed.value
FRAME_ERROR: int = exceptions.AMQPFrameError.value
SYNTAX_ERROR: int = exceptions.AMQPSyntaxError.value
COMMAND_INVALID: int = exceptions.AMQPCommandInvalid.value
CHANNEL_ERROR: int = exceptions.AMQPChannelError.value
UNEXPECTED_FRAME: int = exceptions.AMQPUnexpectedFrame.value
NOT_ALLOWED: int = exceptions.AMQPNotAllowed.value
NOT_IMPLEMENTED: int = exceptions.AMQPNotImplemented.value
INTERNAL_ERROR: int = exceptions.AMQPInternalError.value
CONNECTION_FORCED: int = exceptions.AMQPConnectionForced.value

_MAX_REPLY_TEXT = 255  # a short string; RabbitMQ cuts longer texts to 252 bytes and adds "..."
_ELLIPSIS = b"..."


def _short(text: str) -> str:
    encoded = text.encode()
    if len(encoded) <= _MAX_REPLY_TEXT:
        return text
    return (encoded[: _MAX_REPLY_TEXT - len(_ELLIPSIS)] + _ELLIPSIS).decode(errors="ignore")


class AMQPError(Exception):
    """An AMQP failure with everything the peer must be told: code, text, failing method."""

    closes = "channel"

    def __init__(self, reply_code: int, explanation: str, method: str | None = None) -> None:
        text = f"{REPLY_NAMES[reply_code]} - {explanation}"
        self.reply_code = reply_code
        self.reply_text = _short(text)
        self.method = method
        super().__init__(self.reply_text)

    @property
    def class_id(self) -> int:
        return METHOD_IDS[self.method][0] if self.method else 0

    @property
    def method_id(self) -> int:
        return METHOD_IDS[self.method][1] if self.method else 0

    def blame(self, method: str) -> None:
        """Name the method that failed, unless a deeper layer already did."""
        if self.method is None:
            self.method = method


class ChannelError(AMQPError):
    """A soft error: RabbitMQ closes the channel and the connection goes on."""


class ConnectionError(AMQPError):
    """A hard error: RabbitMQ closes the whole connection."""

    closes = "connection"


class Crash(ConnectionError):
    """Input RabbitMQ's channel process did not expect made it crash: the connection closes with
    541 and the bare text `INTERNAL_ERROR`, naming no method."""

    def __init__(self) -> None:
        super().__init__(INTERNAL_ERROR, "")
        self.reply_text = REPLY_NAMES[INTERNAL_ERROR]
        self.args = (self.reply_text,)

    def blame(self, method: str) -> None:
        """A crash names no method (class and method 0)."""


class AdminError(Exception):
    """An administrative operation refused (users, vhosts, permissions, policies, limits,
    definitions): `kind` says what went wrong, as the management API's status codes do, and
    `reason` says it in RabbitMQ's words. Nothing was changed."""

    NOT_FOUND = "not_found"
    BAD_REQUEST = "bad_request"
    CONFLICT = "conflict"

    def __init__(self, kind: str, reason: str, *, term: Any = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        #: what the management API puts in its body's "reason" where that is an Erlang term
        #: rather than text (None: `reason`)
        self.term = term
