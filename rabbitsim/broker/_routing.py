"""How each exchange type chooses destinations for a routing key and headers.

Every router keeps its own index so that routing costs what the type implies: a dict hit
for direct, a walk over the key's words for topic (never over the bindings), a scan for
headers (which has no better index). Destinations are counted, because several bindings
(different arguments) may join the same pair and only the last unbind removes the route.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from ._errors import PRECONDITION_FAILED, ChannelError
from ._text import utf8_text

Destination = Hashable


class Router(Protocol):
    def add(self, key: str, arguments: Mapping[str, Any], destination: Destination) -> None: ...
    def remove(self, key: str, arguments: Mapping[str, Any], destination: Destination) -> None: ...
    def route(self, key: str, headers: Mapping[str, Any] | None) -> Iterable[Destination]: ...


def _count_up(counts: dict[Destination, int], destination: Destination) -> None:
    counts[destination] = counts.get(destination, 0) + 1


def _count_down(counts: dict[Destination, int], destination: Destination) -> None:
    left = counts[destination] - 1
    if left:
        counts[destination] = left
    else:
        del counts[destination]


class DirectRouter:
    """Exact match of the routing key."""

    def __init__(self) -> None:
        self._by_key: dict[str, dict[Destination, int]] = {}

    def add(self, key: str, arguments: Mapping[str, Any], destination: Destination) -> None:
        _count_up(self._by_key.setdefault(key, {}), destination)

    def remove(self, key: str, arguments: Mapping[str, Any], destination: Destination) -> None:
        counts = self._by_key[key]
        _count_down(counts, destination)
        if not counts:
            del self._by_key[key]

    def route(self, key: str, headers: Mapping[str, Any] | None) -> Iterable[Destination]:
        return self._by_key.get(key, ())


class FanoutRouter:
    """Every bound destination, whatever the key."""

    def __init__(self) -> None:
        self._all: dict[Destination, int] = {}

    def add(self, key: str, arguments: Mapping[str, Any], destination: Destination) -> None:
        _count_up(self._all, destination)

    def remove(self, key: str, arguments: Mapping[str, Any], destination: Destination) -> None:
        _count_down(self._all, destination)

    def route(self, key: str, headers: Mapping[str, Any] | None) -> Iterable[Destination]:
        return self._all


def topic_words(key: str) -> list[str]:
    """Split a key into words: `''` has none, `'.'` has two empty ones (as RabbitMQ reads it)."""
    return key.split(".") if key else []


class _TrieNode:
    __slots__ = ("children", "destinations", "hash", "star")

    def __init__(self) -> None:
        self.children: dict[str, _TrieNode] = {}
        self.star: _TrieNode | None = None
        self.hash: _TrieNode | None = None
        self.destinations: dict[Destination, int] = {}

    def is_empty(self) -> bool:
        return not (self.children or self.star or self.hash or self.destinations)


class TopicRouter:
    """A trie over binding words: `*` is one word, `#` zero or more; other words are literal
    (a `*` inside a word included). Matching walks the published key's words, so its cost
    does not grow with the number of bindings."""

    def __init__(self) -> None:
        self._root = _TrieNode()

    def add(self, key: str, arguments: Mapping[str, Any], destination: Destination) -> None:
        node = self._root
        for word in topic_words(key):
            node = self._step(node, word, create=True)  # type: ignore[assignment]
        _count_up(node.destinations, destination)

    def remove(self, key: str, arguments: Mapping[str, Any], destination: Destination) -> None:
        path = [self._root]
        words = topic_words(key)
        for word in words:
            path.append(self._step(path[-1], word, create=False))  # type: ignore[arg-type]
        _count_down(path[-1].destinations, destination)
        for word, parent, child in zip(reversed(words), reversed(path[:-1]), reversed(path[1:]), strict=True):
            if not child.is_empty():
                break
            if word == "*":
                parent.star = None
            elif word == "#":
                parent.hash = None
            else:
                del parent.children[word]

    @staticmethod
    def _step(node: _TrieNode, word: str, *, create: bool) -> _TrieNode | None:
        if word == "*":
            if node.star is None and create:
                node.star = _TrieNode()
            return node.star
        if word == "#":
            if node.hash is None and create:
                node.hash = _TrieNode()
            return node.hash
        child = node.children.get(word)
        if child is None and create:
            child = node.children[word] = _TrieNode()
        return child

    def route(self, key: str, headers: Mapping[str, Any] | None) -> Iterable[Destination]:
        found: dict[Destination, int] = {}
        self._match(self._root, topic_words(key), 0, found, set())
        return found

    def _match(
        self,
        node: _TrieNode,
        words: list[str],
        at: int,
        found: dict[Destination, int],
        seen: set[tuple[int, int]],
    ) -> None:
        """Collect destinations of bindings matching `words[at:]` below `node`. Literal and
        `*` steps loop; only `#` (zero or more words) branches, and each (`#` node, start)
        pair is explored once, which keeps keys like `#.#.#` linear, not exponential."""
        end = len(words)
        while True:
            hash_node = node.hash
            if hash_node is not None:
                for start in range(at, end + 1):
                    mark = (id(hash_node), start)
                    if mark not in seen:
                        seen.add(mark)
                        self._match(hash_node, words, start, found, seen)
            if at == end:
                found.update(node.destinations)
                return
            child = node.children.get(words[at])
            star = node.star
            at += 1
            if child is None:
                if star is None:
                    return
                node = star
            else:
                if star is not None:
                    self._match(star, words, at, found, seen)
                node = child


# --- headers -------------------------------------------------------------------------------


def value_class(value: Any) -> str:
    """The AMQP type class RabbitMQ compares headers by: every integer width is one class,
    so are the two float widths; bool, strings, decimals, timestamps stay apart."""
    if value is None:
        return "void"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str | bytes | bytearray):
        return "longstr"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def wire_type(value: Any) -> str:
    """The AMQP field type name a client library sends `value` as (pika's choices). pamqp
    decodes a byte array ('x', what pika sends for `bytes`) as `bytearray`."""
    if isinstance(value, bytearray):
        return "binary"
    kind = value_class(value)
    if kind == "int":
        return "signedint" if -(2**31) <= value < 2**31 else "long"
    return {"float": "double"}.get(kind, kind)


def header_value_key(value: Any, *, nested: bool = False) -> Any:
    """What RabbitMQ compares when it matches a header against a binding argument (measured):
    top-level numbers by value (1 matches 1.0), booleans apart from numbers, decimals by
    their digits and exponent (1 and 1.0 differ), nested tables and arrays with every
    value's wire type kept (so nested 1 and True, or 1 and 1.0, differ)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return (wire_type(value), value) if nested else ("number", value)
    if isinstance(value, Decimal):
        return ("decimal", value.as_tuple())
    if isinstance(value, str | bytes | bytearray):  # a byte array matches the string of its octets
        return ("longstr", utf8_text(bytes(value) if isinstance(value, bytearray) else value))
    if isinstance(value, dict):
        return ("table", tuple((name, header_value_key(item, nested=True)) for name, item in value.items()))
    if isinstance(value, list | tuple):
        return ("array", tuple(header_value_key(item, nested=True) for item in value))
    return (value_class(value), value)


_X_MATCH_MODES = {
    # mode: (match all?, compare x- headers too?)
    "all": (True, False),
    "any": (False, False),
    "all-with-x": (True, True),
    "any-with-x": (False, True),
}


def parse_x_match(arguments: Mapping[str, Any]) -> tuple[bool, bool]:
    """Read a headers binding's `x-match`; a bad one is refused at bind time, as RabbitMQ does."""
    mode = arguments.get("x-match", "all")
    if not isinstance(mode, str | bytes):
        raise ChannelError(
            PRECONDITION_FAILED,
            f"Invalid x-match field type {wire_type(mode)} (value {mode!r}); expected longstr",
        )
    mode = utf8_text(mode)
    if mode not in _X_MATCH_MODES:
        raise ChannelError(
            PRECONDITION_FAILED,
            f'Invalid x-match field value <<"{mode}">>; expected all, any, all-with-x, or any-with-x',
        )
    return _X_MATCH_MODES[mode]


class _HeadersBinding:
    __slots__ = ("destination", "match_all", "pattern")

    def __init__(self, arguments: Mapping[str, Any], destination: Destination) -> None:
        self.match_all, with_x = parse_x_match(arguments)
        self.destination = destination
        self.pattern = [
            (name, None if value is None else header_value_key(value))
            for name, value in arguments.items()
            if name != "x-match" and (with_x or not name.startswith("x-"))
        ]

    def matches(self, headers: Mapping[str, Any]) -> bool:
        check = all if self.match_all else any
        return check(self._field_matches(headers, field) for field in self.pattern)

    @staticmethod
    def _field_matches(headers: Mapping[str, Any], field: tuple[str, Any]) -> bool:
        name, expected = field
        if name not in headers:
            return False
        # a void binding value asks only that the header be present
        return expected is None or header_value_key(headers[name]) == expected


class HeadersRouter:
    """Matches message headers against each binding's arguments (typed comparison)."""

    def __init__(self) -> None:
        self._bindings: list[tuple[str, Mapping[str, Any], _HeadersBinding]] = []

    def add(self, key: str, arguments: Mapping[str, Any], destination: Destination) -> None:
        self._bindings.append((key, arguments, _HeadersBinding(arguments, destination)))

    def remove(self, key: str, arguments: Mapping[str, Any], destination: Destination) -> None:
        for index, (bound_key, bound_args, binding) in enumerate(self._bindings):
            if binding.destination is destination and bound_key == key and bound_args == arguments:
                del self._bindings[index]
                return

    def route(self, key: str, headers: Mapping[str, Any] | None) -> Iterator[Destination]:
        headers = headers or {}
        for _key, _args, binding in self._bindings:
            if binding.matches(headers):
                yield binding.destination


#: exchange type name -> router factory. RabbitMQ's `x-*` plugin types are not modelled.
ROUTERS: dict[str, type[DirectRouter] | type[FanoutRouter] | type[TopicRouter] | type[HeadersRouter]] = {
    "direct": DirectRouter,
    "fanout": FanoutRouter,
    "topic": TopicRouter,
    "headers": HeadersRouter,
}
