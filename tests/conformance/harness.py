"""The conformance harness: scenarios, the context they run in, and helpers that turn what a broker
did into plain values that can be compared between the simulator and a real RabbitMQ.

A scenario is a function `(Context) -> outcome`. It must give the same outcome on every faithful
broker, so it waits on conditions (never on the clock), names everything through the context (so
runs never collide, and the janitor can delete what a run declared), and reduces anything a broker
may legitimately choose (generated names, timestamps) to something stable."""

from __future__ import annotations

import ast
import base64
import contextlib
import datetime
import decimal
import fcntl
import hashlib
import ipaddress
import json
import re
import socket
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import pika
import pika.exceptions as px
import pika.spec
from pika.adapters.blocking_connection import BlockingChannel

from rabbitsim.backends import ManagementClient, UrlBroker

T = TypeVar("T")
Outcome = Any
ScenarioFunc = Callable[["Context"], Outcome]

#: How long one scenario may run on one broker before its sockets are cut under it.
SCENARIO_TIMEOUT = 15.0
#: How long a scenario waits for something that should happen (a delivery, a deletion).
WAIT = 5.0

GENERATED = re.compile(r"amq\.(gen|ctag)-[A-Za-z0-9_-]{22}")


# ---------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class Scenario:
    """One conformance scenario. `expect` pins the real outcome per version where RabbitMQ
    versions are known to differ, so a change in either broker is noticed, not absorbed."""

    name: str
    topic: str
    func: ScenarioFunc
    doc: str
    expect: Mapping[str, Outcome] | None = None
    timeout: float = 0.0  # longer than SCENARIO_TIMEOUT, for scenarios that restart the broker


REGISTRY: dict[str, Scenario] = {}

#: Outcomes of this session's runs, written out when RABBITSIM_CONFORMANCE_REPORT names a file.
RESULTS: list[dict[str, Any]] = []


@overload
def scenario(func: ScenarioFunc, *, expect: None = None, timeout: float = 0.0) -> ScenarioFunc: ...
@overload
def scenario(
    func: None = None, *, expect: Mapping[str, Outcome] | None = None, timeout: float = 0.0
) -> Callable[[ScenarioFunc], ScenarioFunc]: ...
def scenario(
    func: ScenarioFunc | None = None, *, expect: Mapping[str, Outcome] | None = None, timeout: float = 0.0
) -> ScenarioFunc | Callable[[ScenarioFunc], ScenarioFunc]:
    """Register a scenario: `@scenario` or `@scenario(expect={"3.10": ..., "4.0": ..., "4.3": ...})`."""

    def register(f: ScenarioFunc) -> ScenarioFunc:
        name = f.__name__
        if name in REGISTRY:
            raise ValueError(f"duplicate conformance scenario {name!r}")
        topic = f.__module__.rsplit(".", 1)[-1]
        doc = " ".join((f.__doc__ or "").split())
        REGISTRY[name] = Scenario(name, topic, f, doc, expect, timeout)
        return f

    return register(func) if func is not None else register


# ---------------------------------------------------------------------------------------------
# where a scenario runs


@dataclass
class Target:
    """A broker a scenario can run on: the simulator or a real RabbitMQ."""

    kind: str  # "sim" or "real"
    version: str
    url: str
    #: the simulator's handle; a real broker is restarted through the url backend, which can
    #: restart only the brokers this project's scripts started
    handle: Any = None
    janitor: Janitor = field(init=False)
    _admin: ManagementClient | None = field(init=False, default=None)

    @property
    def admin(self) -> ManagementClient:
        """The broker's management HTTP API, as the administrator (guest). A real broker's is at
        its AMQP port + 10000; the simulator's handle says where it serves its own."""
        if self._admin is None:
            if self.kind == "sim":
                url = getattr(self.handle, "management_url", None)
                if not url:
                    raise AssertionError(
                        f"the simulator ({self.version}) has no management_url: it serves no management API"
                    )
            else:
                url = UrlBroker(self.url).management_url  # the AMQP port + 10000
            self._admin = ManagementClient(url)
        return self._admin

    def restart(self, *, kill: bool) -> None:
        if self.handle is None:
            from rabbitsim.backends import UrlBroker

            self.handle = UrlBroker(self.url)
        self.handle.restart(kill=kill)
        self.janitor.close()  # its connection went with the broker
        self.url = self.janitor.url = self.handle.url  # a container's port can change
        self._admin = None

    def __post_init__(self) -> None:
        self.janitor = Janitor(self.url)

    def close(self) -> None:
        self.janitor.close()


def parameters(url: str, **overrides: Any) -> pika.URLParameters:
    """Connection parameters with short timeouts, so a silent broker fails a run quickly."""
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 5
    params.stack_timeout = 5
    params.blocked_connection_timeout = 5
    for key, value in overrides.items():
        setattr(params, key, value)
    return params


class Janitor:
    """Deletes what runs declared, over one long-lived connection per broker, so the real broker
    does not accumulate state even when a scenario fails half-way."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection: pika.BlockingConnection | None = None
        self.channel: BlockingChannel | None = None

    def _channel(self) -> BlockingChannel:
        if self.connection is None or not self.connection.is_open:
            self.connection = pika.BlockingConnection(parameters(self.url))
            self.channel = None
        if self.channel is None or not self.channel.is_open:
            self.channel = self.connection.channel()
        return self.channel

    def delete(self, queues: Iterable[str], exchanges: Iterable[str]) -> None:
        for kind, names in (("queue", queues), ("exchange", exchanges)):
            for name in names:
                for _ in range(3):
                    try:
                        channel = self._channel()
                        if kind == "queue":
                            channel.queue_delete(name)
                        else:
                            channel.exchange_delete(name)
                        break
                    except px.AMQPError:
                        # e.g. 405 while an exclusive queue's owner is still going away
                        time.sleep(0.05)

    def delete_admin(self, admin: ManagementClient, vhosts: Iterable[str], users: Iterable[str]) -> None:
        """Delete a run's vhosts (their queues, exchanges, policies and permissions go with them)
        and then its users (their limits and permissions go too), over the management API."""
        for kind, names in (("vhosts", vhosts), ("users", users)):
            for name in names:
                answer: Any = None
                for attempt_number in range(4):  # deleting a vhost with quorum queues can take seconds
                    if attempt_number:
                        time.sleep(1.0)
                    try:
                        answer = http(admin, "DELETE", f"{kind}/{quoted(name)}", timeout=30.0)
                    except OSError as exc:  # a timeout or a reset: try again
                        answer = exc
                        continue
                    if answer["status"] in (204, 404):
                        break
                else:
                    warnings.warn(
                        f"the janitor could not delete {kind[:-1]} {name!r}: {answer!r}", stacklevel=1
                    )

    def close(self) -> None:
        if self.connection is not None and self.connection.is_open:
            with contextlib.suppress(Exception):
                self.connection.close()


class Context:
    """What a scenario gets: connections to one broker and a name prefix of its own."""

    def __init__(self, target: Target, prefix: str) -> None:
        self.target = target
        self.version = target.version
        self.url = target.url
        self.prefix = prefix
        self.connections: list[pika.BlockingConnection] = []
        self.queues: list[str] = []
        self.exchanges: list[str] = []
        self.vhosts: list[str] = []
        self.users: list[str] = []
        self.relays: list[Relay] = []
        self.timed_out = False

    # names -----------------------------------------------------------------------------------
    def name(self, suffix: str) -> str:
        """A name of this run that is not declared (or is cleaned up by other means)."""
        return self.prefix + suffix

    def queue(self, suffix: str = "q") -> str:
        """A queue name of this run; the janitor deletes it afterwards."""
        name = self.prefix + suffix
        self.queues.append(name)
        return name

    def exchange(self, suffix: str = "x") -> str:
        """An exchange name of this run; the janitor deletes it afterwards."""
        name = self.prefix + suffix
        self.exchanges.append(name)
        return name

    def track_queue(self, name: str) -> str:
        """Have the janitor delete a server-named queue too."""
        self.queues.append(name)
        return name

    # connections -----------------------------------------------------------------------------
    def connect(
        self,
        url: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        vhost: str | None = None,
        source: str | None = None,
        **overrides: Any,
    ) -> pika.BlockingConnection:
        """A connection to this broker (or `url`), optionally as another user, to another vhost,
        or from the local address `source` (through a relay whose socket is bound to it, so the
        broker sees that peer address)."""
        if user is not None or password is not None or vhost is not None:
            url = self.url_with(user=user, password=password, vhost=vhost, base=url)
        params = parameters(url or self.url, **overrides)
        if source is not None:
            relay = Relay(source, params.host, params.port)
            self.relays.append(relay)
            params.host, params.port = "127.0.0.1", relay.port
        connection = pika.BlockingConnection(params)
        self.connections.append(connection)
        return connection

    def channel(self) -> tuple[pika.BlockingConnection, BlockingChannel]:
        """A new connection and a channel on it: the usual start of a scenario."""
        connection = self.connect()
        return connection, connection.channel()

    def url_with(
        self,
        *,
        vhost: str | None = None,
        password: str | None = None,
        user: str | None = None,
        base: str | None = None,
    ) -> str:
        params = pika.URLParameters(base or self.url)
        name = user if user is not None else params.credentials.username
        secret = password if password is not None else params.credentials.password
        path = quoted(vhost if vhost is not None else params.virtual_host)
        return f"amqp://{quoted(name)}:{quoted(secret)}@{params.host}:{params.port}/{path}"

    # administration ----------------------------------------------------------------------------
    @property
    def admin(self) -> ManagementClient:
        """The broker's management HTTP API as its administrator."""
        return self.target.admin

    def http(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        user: str | None = None,
        password: str | None = None,
    ) -> dict[str, Any]:
        """One management API request: `{"status": code, "body": parsed JSON (or text)}`."""
        return http(self.admin, method, path, body, raw=raw, user=user, password=password)

    def admin_ok(self, method: str, path: str, body: Any = None) -> int:
        """A management request that must succeed (setup): its status."""
        reply = self.http(method, path, body)
        if not 200 <= reply["status"] < 300:
            raise AssertionError(f"{method} /api/{path} {body!r}: {reply}")
        return int(reply["status"])

    def vhost(self, suffix: str = "vh", *, permit_admin: bool = True) -> str:
        """A new vhost of this run (deleted afterwards, with everything in it); the administrator
        is given every permission in it unless `permit_admin` is false."""
        name = self.prefix + suffix
        self.vhosts.append(name)
        self.admin_ok("PUT", f"vhosts/{quoted(name)}", {})
        if permit_admin:
            self.permit(self.admin.username, name)
        return name

    def user(self, suffix: str = "u", password: str = "secret", tags: str = "") -> str:
        """A new user of this run (deleted afterwards)."""
        name = self.prefix + suffix
        self.users.append(name)
        self.admin_ok("PUT", f"users/{quoted(name)}", {"password": password, "tags": tags})
        return name

    def permit(
        self, user: str, vhost: str, configure: str = ".*", write: str = ".*", read: str = ".*"
    ) -> int:
        """Set a user's permissions in a vhost (as `set_permissions`); the status."""
        body = {"configure": configure, "write": write, "read": read}
        return self.admin_ok("PUT", f"permissions/{quoted(vhost)}/{quoted(user)}", body)

    def account(
        self, configure: str = ".*", write: str = ".*", read: str = ".*", suffix: str = ""
    ) -> tuple[str, str]:
        """A new vhost and a new user with these permissions in it: (vhost, user); the user's
        password is "secret"."""
        vhost = self.vhost(suffix + "vh")
        user = self.user(suffix + "u")
        self.permit(user, vhost, configure, write, read)
        return vhost, user

    def policy(
        self,
        vhost: str,
        name: str,
        pattern: str,
        definition: Mapping[str, Any],
        *,
        priority: int = 0,
        apply_to: str = "all",
        operator: bool = False,
    ) -> dict[str, Any]:
        """Set a policy (or an operator policy) in one of this run's vhosts; the reply."""
        if vhost not in self.vhosts:
            raise AssertionError("policies only in vhosts this run created")
        kind = "operator-policies" if operator else "policies"
        body = {
            "pattern": pattern,
            "definition": dict(definition),
            "priority": priority,
            "apply-to": apply_to,
        }
        return self.http("PUT", f"{kind}/{quoted(vhost)}/{quoted(name)}", body)

    def restart(self, *, kill: bool = False) -> None:
        """Stop the broker and start it again (cleanly, or by SIGKILL): the connections so far
        are gone; connect anew."""
        self.target.restart(kill=kill)
        self.url = self.target.url

    def abort(self) -> None:
        """Cut every socket of this run: a blocked pika call then fails instead of hanging."""
        self.timed_out = True
        janitor = self.target.janitor.connection
        for connection in [*self.connections, *([janitor] if janitor else [])]:
            with contextlib.suppress(Exception):
                sock = connection._impl._transport._sock
                sock.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        for connection in self.connections:
            with contextlib.suppress(Exception):
                if connection.is_open:
                    connection.close()
        for relay in self.relays:
            relay.close()
        self.target.janitor.delete(reversed(self.queues), reversed(self.exchanges))
        if self.vhosts or self.users:
            self.target.janitor.delete_admin(self.admin, self.vhosts, self.users)


def quoted(name: str) -> str:
    """A name as one segment of a URL path (vhost "/" is "%2F")."""
    return urllib.parse.quote(name, safe="")


def http(
    admin: ManagementClient,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    user: str | None = None,
    password: str | None = None,
    timeout: float = WAIT,
) -> dict[str, Any]:
    """A management API request that reports what came back instead of raising: the status and
    the body (parsed JSON, else text, None when empty). `raw` is sent as the body as is; `user`
    and `password` replace the administrator's credentials."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    name = admin.username if user is None else user
    secret = admin.password if password is None else password
    token = base64.b64encode(f"{name}:{secret}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{admin.base}/api/{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    text = payload.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = text
    return {"status": status, "body": parsed}


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not a loopback one (Linux), or None."""
    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, interface in socket.if_nameindex():
            request = struct.pack("256s", interface.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), siocgifaddr, request)
            except OSError:
                continue
            address = socket.inet_ntoa(answer[20:24])
            if not ipaddress.ip_address(address).is_loopback:
                return address
    return None


class Relay:
    """Relays one TCP connection to host:port from a socket bound to `source`, so the broker
    sees a peer at that address (a broker listening on loopback only can still be reached
    from a local non-loopback address: the kernel routes it over `lo`)."""

    def __init__(self, source: str, host: str, port: int) -> None:
        self.source, self.target = source, (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            inner, _peer = self.listener.accept()
            outer = socket.create_connection(self.target, timeout=WAIT, source_address=(self.source, 0))
            outer.settimeout(None)
            self.sockets += [inner, outer]
            for a, b in ((inner, outer), (outer, inner)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        with contextlib.suppress(OSError):
            b.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


def run(scenario: Scenario, target: Target, prefix: str) -> Outcome:
    """Run one scenario on one broker and return its normalised outcome."""
    context = Context(target, prefix)
    limit = max(SCENARIO_TIMEOUT, scenario.timeout)
    watchdog = threading.Timer(limit, context.abort)
    watchdog.daemon = True
    watchdog.start()
    try:
        try:
            outcome = scenario.func(context)
        except px.AMQPError as exc:
            if context.timed_out:
                raise TimeoutError(f"{scenario.name} ran over {limit}s on {target.kind}") from exc
            # A refusal the scenario did not expect (real RabbitMQ never gives one here, or the
            # scenario would expect it) is still an outcome to compare, not a crash.
            refusal = error_of(exc)
            if refusal is None:
                raise
            outcome = {"scenario-aborted-by": refusal}
    finally:
        context.finish()
        watchdog.cancel()
    if context.timed_out:
        raise TimeoutError(f"{scenario.name} ran over {limit}s on {target.kind}")
    return normalise(outcome, prefix)


# ---------------------------------------------------------------------------------------------
# comparing outcomes


class Disagreement(AssertionError):
    """The simulator's outcome differs from real RabbitMQ's (the only failure KNOWN_DIFFERENCES
    may excuse)."""


class PinnedOutcomeChanged(AssertionError):
    """Real RabbitMQ no longer gives the outcome a scenario pins for its version."""


def typed(value: Any) -> Any:
    """A form in which True != 1 and 1 != 1.0, so comparisons are as strict as the wire."""
    if isinstance(value, dict):
        return ("dict", {k: typed(v) for k, v in value.items()})
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, value)


def same(a: Any, b: Any) -> bool:
    return bool(typed(a) == typed(b))


def differences(real: Any, sim: Any, path: str = "$") -> list[str]:
    """Where two outcomes differ, as `path: real=… sim=…` lines."""
    if isinstance(real, dict) and isinstance(sim, dict):
        out = []
        for key in list(real) + [k for k in sim if k not in real]:
            if key not in sim:
                out.append(f"{path}[{key!r}]: real={real[key]!r} sim=<missing>")
            elif key not in real:
                out.append(f"{path}[{key!r}]: real=<missing> sim={sim[key]!r}")
            else:
                out += differences(real[key], sim[key], f"{path}[{key!r}]")
        return out
    if isinstance(real, list) and isinstance(sim, list) and len(real) == len(sim):
        return [
            d
            for i, (r, s) in enumerate(zip(real, sim, strict=True))
            for d in differences(r, s, f"{path}[{i}]")
        ]
    return [] if same(real, sim) else [f"{path}: real={real!r} sim={sim!r}"]


# ---------------------------------------------------------------------------------------------
# outcomes


def normalise(value: Any, prefix: str) -> Any:
    """A JSON-like copy: tuples become lists, this run's prefix becomes `~`, server-generated
    names of RabbitMQ's exact form become `amq.gen-*` / `amq.ctag-*`, exotic AMQP field values
    become tagged strings. Anything else (a pika object) is a scenario bug."""
    if isinstance(value, bool | int | float | bytes) or value is None:
        return value
    if isinstance(value, str):
        if prefix:
            value = value.replace(prefix, "~")
        return GENERATED.sub(lambda m: f"amq.{m.group(1)}-*", value)
    if isinstance(value, Mapping):
        return {normalise(k, prefix): normalise(v, prefix) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(v, prefix) for v in value]
    if isinstance(value, decimal.Decimal):
        return f"decimal:{value}"
    if isinstance(value, datetime.datetime):
        return f"timestamp:{value.isoformat()}"
    raise TypeError(f"outcome holds a {type(value).__name__}: {value!r}")


def error_of(exc: BaseException) -> tuple[Any, ...] | None:
    """What a broker said when it refused something, as a comparable tuple."""
    if isinstance(exc, px.ChannelClosedByBroker):
        return ("channel-closed", exc.reply_code, exc.reply_text)
    if isinstance(exc, px.ConnectionClosedByBroker):
        return ("connection-closed", exc.reply_code, exc.reply_text)
    if isinstance(exc, px.ProbableAccessDeniedError | px.ProbableAuthenticationError):
        # pika puts the close in the message as a repr: quoted '…', or "…" when the text has a '
        match = re.search(
            r"ConnectionClosedByBroker: \((\d+)\) ('.*'|\".*\")$", str(exc.args[0]) if exc.args else ""
        )
        if match:
            return ("connection-closed", int(match.group(1)), ast.literal_eval(match.group(2)))
        return ("connection-refused", type(exc).__name__)
    if isinstance(exc, px.UnroutableError):
        return ("unroutable", [m.method.reply_code for m in exc.messages])
    if isinstance(exc, px.NackError):
        return ("nacked", len(exc.messages))
    return None


def attempt(fn: Callable[[], T]) -> T | tuple[Any, ...]:
    """`fn()`'s value, or the broker's refusal as `("channel-closed", code, text)` and the like."""
    try:
        return fn()
    except px.AMQPError as exc:
        refusal = error_of(exc)
        if refusal is None:
            raise
        return refusal


def step(fn: Callable[[], object]) -> str | tuple[Any, ...]:
    """`"ok"` or the broker's refusal."""
    try:
        fn()
    except px.AMQPError as exc:
        refusal = error_of(exc)
        if refusal is None:
            raise
        return refusal
    return "ok"


def fence(channel: BlockingChannel) -> None:
    """A harmless synchronous call: anything the broker sent before its reply (a channel.close
    for an earlier publish, a basic.return) has then arrived."""
    channel.exchange_declare("amq.direct", "direct", passive=True)


def fenced(channel: BlockingChannel, fn: Callable[[], object]) -> Callable[[], None]:
    """`fn` and then a fence on `channel`: for methods without a reply (publish, ack), so that a
    refusal of them is raised by the same step."""

    def call() -> None:
        fn()
        fence(channel)

    return call


def publish_step(channel: BlockingChannel, exchange: str, key: str, body: bytes = b"m", **kw: Any) -> Any:
    """Publish, then fence, so an asynchronous refusal of the publish is reported by this step."""
    return step(fenced(channel, lambda: channel.basic_publish(exchange, key, body, **kw)))


def new_channel_step(connection: pika.BlockingConnection, fn: Callable[[BlockingChannel], object]) -> Any:
    """Run `fn` on a fresh channel (errors close channels), returning "ok" or the refusal."""
    channel = connection.channel()
    result = step(lambda: fn(channel))
    if channel.is_open:
        channel.close()
    return result


def digest(body: bytes) -> str:
    return f"{len(body)} bytes sha256:{hashlib.sha256(body).hexdigest()[:16]}"


PROPERTY_NAMES = (
    "content_type",
    "content_encoding",
    "headers",
    "delivery_mode",
    "priority",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_id",
    "timestamp",
    "type",
    "user_id",
    "app_id",
    "cluster_id",
)


def props(properties: pika.spec.BasicProperties | None) -> dict[str, Any]:
    """The properties that are set, as a dict."""
    if properties is None:
        return {}
    return {n: getattr(properties, n) for n in PROPERTY_NAMES if getattr(properties, n) is not None}


def get_one(channel: BlockingChannel, queue: str, *, ack: bool = True) -> dict[str, Any] | None:
    """basic.get: None for get-empty, else what get-ok said."""
    method, _properties, body = channel.basic_get(queue, auto_ack=ack)
    if method is None:
        return None
    return {
        "body": body,
        "tag": method.delivery_tag,
        "redelivered": method.redelivered,
        "remaining": method.message_count,
        "exchange": method.exchange,
        "key": method.routing_key,
    }


def bodies(channel: BlockingChannel, queue: str, *, limit: int = 200) -> list[bytes]:
    """Every ready body of a queue, in order, taken with basic.get (auto-ack)."""
    out: list[bytes] = []
    for _ in range(limit):
        method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append(body)
    return out


def drain(channel: BlockingChannel, queue: str, *, limit: int = 200) -> list[tuple[bytes, bool]]:
    """Every ready message of a queue as (body, redelivered), taken with basic.get (auto-ack)."""
    out: list[tuple[bytes, bool]] = []
    for _ in range(limit):
        method, _properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        out.append((body, method.redelivered))
    return out


def ready(channel: BlockingChannel, queue: str) -> int:
    """Ready messages (what queue.declare-ok reports). Only settled after confirms: RabbitMQ's
    queue answers this query ahead of deliveries still in its mailbox."""
    return int(channel.queue_declare(queue, passive=True).method.message_count)


def counts(channel: BlockingChannel, queue: str) -> tuple[int, int]:
    """(ready messages, consumers) from a passive declare."""
    method = channel.queue_declare(queue, passive=True).method
    return int(method.message_count), int(method.consumer_count)


def pump(
    connections: Iterable[pika.BlockingConnection], until: Callable[[], bool], timeout: float = WAIT
) -> bool:
    """Process events on `connections` until `until()` holds or `timeout` passes."""
    connections = list(connections)
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() >= deadline:
            return False
        for connection in connections:
            connection.process_data_events(time_limit=0.005 if len(connections) > 1 else 0.02)
    return True


def wait_ready(channel: BlockingChannel, queue: str, n: int, timeout: float = WAIT) -> int:
    """Poll until the queue has `n` ready messages (e.g. after a requeue that RabbitMQ does
    asynchronously); the last count seen."""
    deadline = time.monotonic() + timeout
    while True:
        count = ready(channel, queue)
        if count == n or time.monotonic() >= deadline:
            return count
        time.sleep(0.005)


def wait_gone(
    connection: pika.BlockingConnection, name: str, kind: str = "queue", timeout: float = WAIT
) -> Any:
    """Poll with passive declares until `name` is gone; then the 404 refusal, else the last
    answer (RabbitMQ deletes exclusive and auto-delete things asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        channel = connection.channel()
        if kind == "queue":
            answer = step(lambda ch=channel: ch.queue_declare(name, passive=True))
        else:
            answer = step(lambda ch=channel: ch.exchange_declare(name, passive=True))
        if channel.is_open:
            channel.close()
        if (isinstance(answer, tuple) and answer[1] == 404) or time.monotonic() >= deadline:
            return answer
        time.sleep(0.005)


class Inbox:
    """A consumer callback that records deliveries."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.items: list[dict[str, Any]] = []
        self.properties: list[pika.spec.BasicProperties] = []

    def __call__(
        self,
        channel: BlockingChannel,
        method: pika.spec.Basic.Deliver,
        properties: pika.spec.BasicProperties,
        body: bytes,
    ) -> None:
        self.items.append(
            {
                "body": body,
                "tag": method.delivery_tag,
                "redelivered": method.redelivered,
                "exchange": method.exchange,
                "key": method.routing_key,
            }
        )
        self.properties.append(properties)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def bodies(self) -> list[bytes]:
        return [item["body"] for item in self.items]

    def summary(self, *fields: str) -> list[Any]:
        return [tuple(item[f] for f in fields) for item in self.items]


def consume(channel: BlockingChannel, queue: str, tag: str | None = None, **kw: Any) -> Inbox:
    inbox = Inbox(tag or "")
    channel.basic_consume(queue, inbox, consumer_tag=tag, **kw)
    return inbox


def publish_all(
    channel: BlockingChannel, exchange: str, key: str, payloads: Iterable[bytes], **kw: Any
) -> None:
    for body in payloads:
        channel.basic_publish(exchange, key, body, **kw)


def msgs(n: int, stem: str = "m") -> list[bytes]:
    return [f"{stem}{i}".encode() for i in range(1, n + 1)]


def filled_queue(ctx: Context, channel: BlockingChannel, count: int, suffix: str = "q") -> str:
    """A fresh queue holding m1..m<count>, published with confirms on `channel` so that every
    message is in the queue before the scenario goes on (RabbitMQ answers a passive declare
    ahead of publishes it has not finished routing)."""
    queue = ctx.queue(suffix)
    channel.queue_declare(queue)
    channel.confirm_delivery()
    publish_all(channel, "", queue, msgs(count))
    return queue


class Confirms:
    """Publisher confirms as the broker sends them, on pika's underlying channel so several can be
    in flight. RabbitMQ may coalesce acks with `multiple`, and acks a message that reached no
    queue before earlier ones still in a queue, so the outcome is per sequence number; a return
    is reported with whether it came before its message's ack (the one order RabbitMQ promises)."""

    def __init__(self, connection: pika.BlockingConnection, channel: BlockingChannel) -> None:
        self.connection = connection
        self.channel = channel
        self.settled: dict[int, str] = {}
        self.returns: list[dict[str, Any]] = []
        self.published: list[bytes] = []
        selected: list[bool] = []
        channel._impl.add_on_return_callback(self._on_return)
        channel._impl.confirm_delivery(self._on_confirm, callback=lambda _frame: selected.append(True))
        pump([connection], lambda: bool(selected))

    def _on_return(self, _channel: Any, method: pika.spec.Basic.Return, _props: Any, body: bytes) -> None:
        seq = self.published.index(body) + 1  # bodies are unique within a scenario
        self.returns.append(
            {
                "seq": seq,
                "code": method.reply_code,
                "text": method.reply_text,
                "body": body,
                "before-ack": seq not in self.settled,
            }
        )

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        kind = "ack" if isinstance(method, pika.spec.Basic.Ack) else "nack"
        if method.multiple:
            tags = [t for t in range(1, method.delivery_tag + 1) if t not in self.settled]
        else:
            tags = [method.delivery_tag]
        for tag in tags:
            self.settled[tag] = kind

    def publish(self, exchange: str, key: str, body: bytes, **kw: Any) -> int:
        self.channel._impl.basic_publish(exchange, key, body, **kw)
        self.published.append(body)
        return len(self.published)

    def wait(self, timeout: float = WAIT) -> dict[int, str]:
        pump([self.connection], lambda: len(self.settled) >= len(self.published), timeout)
        return dict(sorted(self.settled.items()))


def raw(channel: BlockingChannel, method: Any) -> None:
    """Send a method pika's API will not send (to provoke a connection error)."""
    channel._impl._send_method(method)


def wait_connection_closed(connection: pika.BlockingConnection, timeout: float = WAIT) -> Any:
    """Process events until the broker closes the connection; its refusal, or "still open"."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.02)
    except px.AMQPError as exc:
        refusal = error_of(exc)
        if refusal is None:
            raise
        return refusal
    return "still open"
