"""What the ctl tests share: one piece of broker state, built the same way on a real RabbitMQ and
on the simulator (a vhost and user of the test's own), the real rabbitmqctl and ours run on it,
and the comparison of their output (Erlang pids and the order of rows aside)."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shlex
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika

from rabbitsim.backends import Ctl, ManagementClient, ManagementError
from rabbitsim.backends._ctl import Result

PID = re.compile(r"<[^<>\s]+@[^<>\s]+\.\d+\.\d+\.\d+>")
# 3.10 logs a warning on stderr before an invalid-regexp error: a timestamp, not the answer
LOG_LINE = re.compile(r"^\n?\d\d:\d\d:\d\d\.\d+ \[\w+\] .*\n", re.MULTILINE)
UNAVAILABLE = ("unable to perform an operation", "cannot reach the management API", "'rabbit' app")


@dataclass
class State:
    """The objects one test made on one broker (names carry a random token)."""

    token: str
    amqp_url: str  # the broker's, for "/"
    client: ManagementClient
    vhost: str = ""
    user: str = ""
    connection: pika.BlockingConnection | None = None
    extra_vhosts: list[str] = field(default_factory=list)
    extra_users: list[str] = field(default_factory=list)

    def url_for(self, vhost: str) -> str:
        parts = urllib.parse.urlsplit(self.amqp_url)
        return urllib.parse.urlunsplit(
            parts._replace(path="/" + urllib.parse.quote(vhost, safe=""), query="")
        )


def build_state(amqp_url: str, management_url: str, *, token: str | None = None) -> State:
    """A vhost with queues (classic, quorum, with arguments, matched by a policy), exchanges,
    bindings, messages, a consumer, permissions, topic permissions and limits; a user with tags.
    Queue arguments are declared in sorted order: 3.10 prints them as declared, the API sorted."""
    token = token or secrets.token_hex(3)
    client = ManagementClient(management_url)
    state = State(token, amqp_url, client, vhost=f"hb-{token}-v", user=f"hb-{token}-u")
    try:
        _build(state)
    except BaseException:
        remove_state(state)
        raise
    return state


def _build(state: State) -> None:
    client = state.client
    vhost = urllib.parse.quote(state.vhost, safe="")
    client.request("PUT", f"vhosts/{vhost}", {})
    client.request("PUT", f"permissions/{vhost}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
    client.request("PUT", f"users/{state.user}", {"password": "pw", "tags": "monitoring,management"})
    client.request("PUT", f"permissions/{vhost}/{state.user}", {"configure": "^a", "write": ".*", "read": ""})
    client.request(
        "PUT",
        f"topic-permissions/{vhost}/{state.user}",
        {"exchange": "amq.topic", "write": "^a", "read": "^b"},
    )
    client.request("PUT", f"vhost-limits/{vhost}/max-queues", {"value": 50})
    client.request(
        "PUT",
        f"policies/{vhost}/hb-pol",
        {"pattern": "^p", "definition": {"max-length": 5}, "priority": 3, "apply-to": "queues"},
    )
    parameters = pika.URLParameters(state.url_for(state.vhost))
    parameters.heartbeat = 0
    connection = pika.BlockingConnection(parameters)
    state.connection = connection
    channel = connection.channel()
    channel.queue_declare("cq", durable=True)
    channel.queue_declare(
        "args-q",
        arguments={"x-dead-letter-exchange": "dlx", "x-max-length": 10, "x-message-ttl": 3_600_000},
    )
    channel.queue_declare("qq", durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_declare("pq with space")
    channel.exchange_declare("ex.topic", "topic", durable=True)
    channel.exchange_declare(
        "ex.headers", "headers", auto_delete=True, arguments={"alternate-exchange": "ex.topic"}
    )
    channel.queue_bind("cq", "ex.topic", "a.#")
    channel.queue_bind("args-q", "ex.headers", "", arguments={"x-match": "any", "k": "v"})
    channel.exchange_bind("ex.topic", "ex.headers", "rk")
    channel.confirm_delivery()
    for _ in range(3):
        channel.basic_publish("", "cq", b"0123456789")
    channel.basic_publish("", "args-q", b"hello")
    consuming = connection.channel()
    consuming.basic_qos(prefetch_count=7)
    consuming.basic_consume("args-q", lambda *_: None, consumer_tag="hb-tag")
    consuming.basic_consume(
        "qq", lambda *_: None, auto_ack=True, consumer_tag="hb-tag-2", arguments={"x-priority": 5}
    )
    connection.process_data_events(0.3)
    settle(state)


def settle(state: State, timeout: float = 20.0) -> None:
    """Wait until the API's statistics agree with what was done (RabbitMQ emits them on a timer)."""
    expected = {"cq": 3, "args-q": 1, "qq": 0, "pq with space": 0}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            queues = state.client.get(f"queues/{urllib.parse.quote(state.vhost, safe='')}")
            consumers = state.client.get(f"consumers/{urllib.parse.quote(state.vhost, safe='')}")
        except ManagementError:
            time.sleep(0.5)
            continue
        counts = {queue["name"]: queue.get("messages") for queue in queues}
        ready = {queue["name"]: queue.get("messages_ready") for queue in queues}
        if (
            counts == expected
            and ready == {"cq": 3, "args-q": 0, "qq": 0, "pq with space": 0}
            and len(consumers) == 2
            and all(queue.get("consumers") is not None for queue in queues)
        ):
            return
        time.sleep(0.3)
    raise AssertionError(f"the statistics of {state.vhost} did not settle: {queues}")


def remove_state(state: State) -> None:
    if state.connection is not None and state.connection.is_open:
        with contextlib.suppress(Exception):  # someone may have restarted the broker meanwhile
            state.connection.close()
    for vhost in [state.vhost, *state.extra_vhosts]:
        _forget(state.client, f"vhosts/{urllib.parse.quote(vhost, safe='')}")
    for user in [state.user, *state.extra_users]:
        _forget(state.client, f"users/{urllib.parse.quote(user, safe='')}")


def _forget(client: ManagementClient, path: str) -> None:
    with contextlib.suppress(ManagementError):
        client.request("DELETE", path)


# --------------------------------------------------------------------------- running both


def real_rabbitmqctl(argv: Sequence[str], args: Sequence[str]) -> Result:
    done = subprocess.run(
        [*argv, *args], capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL
    )
    return Result(done.stdout, done.stderr, done.returncode)


def ours(management_url: str, args: Sequence[str]) -> Result:
    return Ctl(ManagementClient(management_url)).run(list(args))


def retrying(run: Any, attempts: int = 30) -> Result:
    """Run until the broker answers: other tests restart the shared brokers now and then."""
    result: Result = run()
    for _ in range(attempts):
        if not any(text in result.stderr for text in UNAVAILABLE):
            return result
        time.sleep(2)
        result = run()
    return result


def chroot_of(argv: Sequence[str]) -> Path | None:
    """The root a chrooted rabbitmqctl sees files under (4.0 and 4.3 here), else None."""
    return Path(argv[1]) if argv and argv[0] == "chroot" else None


def place_file(argv: Sequence[str], path: Path, text: str) -> None:
    """Write `path` where both our ctl and the real one (maybe in a chroot) will read it."""
    path.write_text(text)
    path.chmod(0o644)
    root = chroot_of(argv)
    if root is not None:
        inside = root / str(path).lstrip("/")
        shutil.copyfile(path, inside)
        inside.chmod(0o644)


def remove_file(argv: Sequence[str], path: Path) -> None:
    path.unlink(missing_ok=True)
    root = chroot_of(argv)
    if root is not None:
        (root / str(path).lstrip("/")).unlink(missing_ok=True)


# --------------------------------------------------------------------------- comparing


def normal(text: str, replacements: Sequence[tuple[str, str]] = ()) -> str:
    text = PID.sub("<PID>", LOG_LINE.sub("", text))
    for old, new in replacements:
        text = text.replace(old, new)
    return text


def split_output(text: str, headers: bool) -> tuple[list[str], list[str]]:
    """(banner lines, then the header if the command prints one; the rows sorted): the order of
    rows is the node's table order, which the management API does not give."""
    lines = text.split("\n")
    head = 0
    while head < len(lines) and "\t" not in lines[head]:
        head += 1
    if headers and head < len(lines):
        head += 1
    return lines[:head], sorted(lines[head:])


def prints_headers(line: str) -> bool:
    return not any(flag in shlex.split(line) for flag in ("-s", "--silent", "--no-table-headers"))


def only_lines_with(text: str, needle: str) -> str:
    """Banner, header and the rows that mention `needle` (for node-wide lists others add to)."""
    lines = text.split("\n")
    header = next((line for line in lines if "\t" in line), None)
    kept = [line for line in lines if "\t" not in line or needle in line or line is header]
    return "\n".join(kept)


def assert_same(
    real: Result,
    mine: Result,
    *,
    replacements: Sequence[tuple[str, str]] = (),
    what: str = "",
    headers: bool = True,
) -> None:
    real_out, mine_out = normal(real.stdout, replacements), normal(mine.stdout)
    if real_out.startswith("[") and real_out.strip() not in ("[]", "[\n]"):
        assert _json_rows(real_out) == _json_rows(mine_out), f"{what}\nreal:\n{real_out}\nours:\n{mine_out}"
    else:
        assert split_output(real_out, headers) == split_output(mine_out, headers), (
            f"{what}\nreal:\n{real_out}\nours:\n{mine_out}"
        )
    assert normal(real.stderr, replacements) == normal(mine.stderr), (
        f"{what}\nreal stderr:\n{real.stderr}\nours:\n{mine.stderr}"
    )
    assert real.code == mine.code, (
        f"{what}: exit {real.code} vs ours {mine.code}\n{real.stderr}\n{mine.stderr}"
    )


def _json_rows(text: str) -> list[str]:
    document = json.loads(text)
    if isinstance(document, list):
        return sorted(json.dumps(item, sort_keys=True) for item in document)
    return [json.dumps(document, sort_keys=True)]
