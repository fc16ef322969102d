"""`rabbitmqctl`, spoken through the management HTTP API.

The commands, arguments, banners, tables, error texts and exit codes are rabbitmqctl's, measured
on RabbitMQ 3.10.8, 4.0.5 and 4.3.6; where those differ, the broker's version (`rabbitmq_version`
in /api/overview) picks the series to follow (the simulator reports its profile's version). So the
same command line prints the same text against the simulator and against any RabbitMQ with the
management plugin, except for what the HTTP API cannot tell: Erlang process ids (shown as
made-up `<node.0.N.0>`), the order of rows (the API's, not the node's table order), and the order
of argument tables (the API sorts keys; 3.10 prints them in declaration order)."""

from __future__ import annotations

import html
import json
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ._management import ManagementClient, ManagementError

# rabbitmqctl's exit codes (sysexits.h), as measured
EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70


class CtlError(RuntimeError):
    """A command failed as rabbitmqctl fails: `text` is what it writes to stderr, `code` its exit
    status, `output` what it had written to stdout before (the banner)."""

    def __init__(self, text: str, code: int, output: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.output = output


class CtlOutput(str):
    """What rabbitmqctl printed; its repr is the text itself, so a notebook shows the table as a
    terminal would. `.rows` holds the table (if the command printed one) as dicts of strings."""

    rows: list[dict[str, str]]

    def __new__(cls, text: str, rows: Sequence[Mapping[str, str]] = ()) -> CtlOutput:
        self = super().__new__(cls, text)
        self.rows = [dict(row) for row in rows]
        return self

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython
        printer.text(str(self))


@dataclass(frozen=True, slots=True)
class Result:
    """One run: what went to stdout and stderr, the exit code, and the table printed."""

    stdout: str
    stderr: str
    code: int
    rows: list[dict[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- version series


@dataclass(frozen=True, slots=True)
class Series:
    """Where rabbitmqctl's releases differ (all measured)."""

    name: str
    bold_headings: bool  # 3.10 writes "Usage" in bold even when not on a terminal
    queue_keys: tuple[str, ...]
    vhost_keys: tuple[str, ...]
    connection_keys: tuple[str, ...]
    channel_keys: tuple[str, ...]
    empty_policy_definition: str  # effective_policy_definition of a queue with no policy
    refuses_missing_user: bool  # delete_user / clear_permissions of a missing user fail (67)
    purge_missing: tuple[int, str]
    delete_queue_missing: str
    charlist: str  # how an Erlang string inside an error term is written
    import_done: str
    json_sorted_keys: bool  # --formatter json writes list_queues rows with keys sorted (others: in
    # an Erlang map's order, which is not predictable, or as the columns)
    queue_error_terms: bool  # a refused delete_queue shows the AMQP error term (4.x), not words
    value_first: bool  # --formatter json writes {"node","value","result"} (an Erlang map's order)
    usage: Mapping[str, str] = field(default_factory=dict)  # where the usage line differs


_QUEUE_KEYS_COMMON = [
    "arguments",
    "auto_delete",
    "consumer_capacity",
    "consumer_utilisation",
    "consumers",
    "disk_reads",
    "disk_writes",
    "durable",
    "exclusive",
    "exclusive_consumer_pid",
    "exclusive_consumer_tag",
    "head_message_timestamp",
    "leader",
    "members",
    "memory",
    "message_bytes",
    "message_bytes_persistent",
    "message_bytes_ram",
    "message_bytes_ready",
    "message_bytes_unacknowledged",
    "messages",
    "messages_persistent",
    "messages_ram",
    "messages_ready",
    "messages_ready_ram",
    "messages_unacknowledged",
    "messages_unacknowledged_ram",
    "name",
    "online",
    "owner_pid",
    "pid",
    "policy",
    "state",
    "type",
]
_CONNECTION_KEYS = [
    "pid",
    "name",
    "port",
    "host",
    "peer_port",
    "peer_host",
    "ssl",
    "ssl_protocol",
    "ssl_key_exchange",
    "ssl_cipher",
    "ssl_hash",
    "peer_cert_subject",
    "peer_cert_issuer",
    "peer_cert_validity",
    "state",
    "channels",
    "protocol",
    "auth_mechanism",
    "user",
    "vhost",
    "timeout",
    "frame_max",
    "channel_max",
    "client_properties",
    "recv_oct",
    "recv_cnt",
    "send_oct",
    "send_cnt",
    "send_pend",
    "connected_at",
]
_CHANNEL_KEYS = [
    "pid",
    "connection",
    "name",
    "number",
    "user",
    "vhost",
    "transactional",
    "confirm",
    "consumer_count",
    "messages_unacknowledged",
    "messages_uncommitted",
    "acks_uncommitted",
    "messages_unconfirmed",
    "prefetch_count",
]
_VHOST_KEYS = ("name", "description", "tags", "default_queue_type", "tracing", "cluster_state")
_IMPORT_DONE = "Successfully started definition import. This process is asynchronous and can take some time."

V3_10 = Series(
    name="3.10",
    bold_headings=True,
    queue_keys=(*_QUEUE_KEYS_COMMON, "slave_pids", "synchronised_slave_pids"),
    vhost_keys=_VHOST_KEYS,
    connection_keys=tuple(_CONNECTION_KEYS),
    channel_keys=(*_CHANNEL_KEYS, "global_prefetch_count"),
    empty_policy_definition="[]",
    refuses_missing_user=True,
    purge_missing=(EX_UNAVAILABLE, "Error:\nnot_found"),
    delete_queue_missing="Queue not found",
    charlist="'{}'",
    import_done=_IMPORT_DONE,
    json_sorted_keys=False,
    value_first=False,
    queue_error_terms=False,
    usage={
        "add_user": "add_user <username> <password>",
        "delete_queue": "delete_queue <queue_name> [--if-empty|-e] [--if-unused|-u] [--timeout <timeout>]",
        "import_definitions": (
            'import_definitions <file_path | "-"> [--format <json | erlang>] [--skip-if-unchanged] '
            "[--timeout <timeout>]"
        ),
        "list_connections": "list_connections [--no-table-headers] [<column> ...] [--timeout <timeout>]",
    },
)
V4_0 = Series(
    name="4.0",
    bold_headings=False,
    queue_keys=(*_QUEUE_KEYS_COMMON, "effective_policy_definition", "operator_policy"),
    vhost_keys=_VHOST_KEYS,
    connection_keys=tuple(_CONNECTION_KEYS),
    channel_keys=tuple(_CHANNEL_KEYS),
    empty_policy_definition="[]",
    refuses_missing_user=False,
    purge_missing=(EX_DATAERR, "Object (queue, stream, exchange, etc) was not found"),
    delete_queue_missing="Queue not found",
    charlist='~c"{}"',
    import_done=_IMPORT_DONE + " Watch target node logs for completion.",
    json_sorted_keys=False,
    value_first=False,
    queue_error_terms=True,
    usage={
        "delete_queue": (
            "delete_queue [--vhost <vhost>] <queue_name> [--if-empty|-e] [--if-unused|-u] "
            "[--timeout <timeout>]"
        ),
        "import_definitions": V3_10.usage["import_definitions"],
        "list_connections": V3_10.usage["list_connections"],
    },
)
V4_3 = Series(
    name="4.3",
    bold_headings=False,
    queue_keys=V4_0.queue_keys,
    vhost_keys=(*_VHOST_KEYS, "protected_from_deletion", "metadata"),
    connection_keys=(*_CONNECTION_KEYS, "peer_cert_serial_number", "container_id"),
    channel_keys=tuple(_CHANNEL_KEYS),
    empty_policy_definition="#{}",
    refuses_missing_user=False,
    purge_missing=V4_0.purge_missing,
    delete_queue_missing="No such queue was found",
    charlist='~c"{}"',
    import_done=V4_0.import_done,
    json_sorted_keys=True,
    value_first=True,
    queue_error_terms=True,
)
SERIES = {series.name: series for series in (V3_10, V4_0, V4_3)}


def series_for(version: str) -> Series:
    """The series whose rabbitmqctl a broker of `version` ships with (newer ones follow 4.3)."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return V4_3
    if major < 4:
        return V3_10
    return V4_0 if (major, minor) == (4, 0) else V4_3


# --------------------------------------------------------------------------- commands

# usage lines as `rabbitmqctl help <command>` prints them on 4.3 (after the global options),
# with its one-line description
USAGE: dict[str, tuple[str, str]] = {
    "add_user": (
        "add_user <username> [<password>] [<password_hash> --pre-hashed-password]",
        "Creates a new user in the internal database.",
    ),
    "delete_user": ("delete_user <username>", "Removes a user from the internal database."),
    "change_password": ("change_password <username> <password>", "Changes the user password."),
    "list_users": ("list_users [--no-table-headers] [--timeout <timeout>]", "List user names and tags."),
    "set_user_tags": ("set_user_tags <username> <tag> [...]", "Sets user tags."),
    "add_vhost": (
        'add_vhost <vhost> [--description <description> --tags "<tag1>,<tag2>,<...>" '
        "--default-queue-type <quorum|classic|stream>]",
        "Creates a virtual host.",
    ),
    "delete_vhost": ("delete_vhost <vhost>", "Deletes a virtual host."),
    "list_vhosts": (
        "list_vhosts [--no-table-headers] [<column> ...] [--timeout <timeout>]",
        "Lists virtual hosts.",
    ),
    "set_permissions": (
        "set_permissions [--vhost <vhost>] <username> <conf> <write> <read>",
        "Sets user permissions for a vhost.",
    ),
    "clear_permissions": (
        "clear_permissions [--vhost <vhost>] <username>",
        "Revokes user permissions for a vhost.",
    ),
    "list_permissions": (
        "list_permissions [--vhost <vhost>] [--no-table-headers] [--timeout <timeout>]",
        "Lists user permissions in a virtual host.",
    ),
    "list_user_permissions": (
        "list_user_permissions [--no-table-headers] <username> [--timeout <timeout>]",
        "Lists permissions of a user across all virtual hosts.",
    ),
    "list_queues": (
        "list_queues [--vhost <vhost>] [--online] [--offline] [--local] [--no-table-headers] "
        "[<column>, ...] [--timeout <timeout>]",
        "Lists queues and their properties.",
    ),
    "list_exchanges": (
        "list_exchanges [--vhost <vhost>] [--no-table-headers] [<column> ...] [--timeout <timeout>]",
        "Lists exchanges.",
    ),
    "list_bindings": (
        "list_bindings [--vhost <vhost>] [--no-table-headers] [<column> ...] [--timeout <timeout>]",
        "Lists all bindings on a vhost.",
    ),
    "list_connections": (
        "list_connections [--no-table-headers] [<column> ...] [--timeout <timeout>]",
        "Lists AMQP connections for the node.",
    ),
    "list_consumers": (
        "list_consumers [--vhost <vhost>] [--no-table-headers] [<column> ...] [--timeout <timeout>]",
        "Lists all consumers for a vhost.",
    ),
    "list_channels": ("list_channels [--no-table-headers] [<column> ...]", "Lists all channels in the node."),
    "purge_queue": (
        "purge_queue <queue> [--timeout <timeout>]",
        "Purges a queue (removes all messages in it).",
    ),
    "delete_queue": (
        "delete_queue [--vhost <vhost>] <queue_name> [--if-empty|-e] [--if-unused|-u] [--force] "
        "[--timeout <timeout>]",
        "Deletes a queue.",
    ),
    "close_connection": (
        "close_connection <connection pid> <explanation>",
        "Instructs the broker to close the connection associated with the Erlang process id.",
    ),
    "set_policy": (
        "set_policy [--vhost <vhost>] [--priority <priority>] [--apply-to <apply-to>] <name> <pattern> "
        "<definition>",
        "Sets or updates a policy.",
    ),
    "clear_policy": ("clear_policy [--vhost <vhost>] <name>", "Clears (removes) a policy."),
    "list_policies": (
        "list_policies [--vhost <vhost>] [--no-table-headers] [--timeout <timeout>]",
        "Lists all policies in a virtual host.",
    ),
    "set_operator_policy": (
        "set_operator_policy [--vhost <vhost>] [--priority <priority>] [--apply-to <apply-to>] <name> "
        "<pattern> <definition>",
        "Sets an operator policy that overrides a subset of arguments in user policies.",
    ),
    "clear_operator_policy": ("clear_operator_policy [--vhost <vhost>] <name>", "Clears an operator policy."),
    "list_operator_policies": (
        "list_operator_policies [--vhost <vhost>] [--no-table-headers] [--timeout <timeout>]",
        "Lists operator policy overrides for a virtual host.",
    ),
    "set_topic_permissions": (
        "set_topic_permissions [--vhost <vhost>] <username> <exchange> <write> <read>",
        "Sets user topic permissions for an exchange.",
    ),
    "clear_topic_permissions": (
        "clear_topic_permissions [--vhost <vhost>] <username> [<exchange>]",
        "Clears user topic permissions for a vhost or exchange.",
    ),
    "list_topic_permissions": (
        "list_topic_permissions [--vhost <vhost>] [--no-table-headers] [--timeout <timeout>]",
        "Lists topic permissions in a virtual host.",
    ),
    "list_user_topic_permissions": (
        "list_user_topic_permissions [--no-table-headers] <username> [--timeout <timeout>]",
        "Lists user topic permissions.",
    ),
    "set_vhost_limits": ("set_vhost_limits [--vhost <vhost>] <definition>", "Sets virtual host limits."),
    "clear_vhost_limits": ("clear_vhost_limits [--vhost <vhost>]", "Clears virtual host limits."),
    "list_vhost_limits": (
        "list_vhost_limits [--vhost <vhost>] [--global] [--no-table-headers]",
        "Displays configured virtual host limits.",
    ),
    "set_user_limits": ("set_user_limits <username> <definition>", "Sets user limits."),
    "clear_user_limits": (
        "clear_user_limits <username> <limit_type> | all",
        "Clears user connection/channel limits.",
    ),
    "list_user_limits": (
        "list_user_limits [--user <username>] [--global]",
        "Displays configured user limits.",
    ),
    "export_definitions": (
        'export_definitions <file_path | "-"> [--format <json | erlang>] [--timeout <timeout>]',
        "Exports definitions in JSON or compressed Erlang Term Format.",
    ),
    "import_definitions": (
        "import_definitions <file_path> [--format <json | erlang>] [--skip-if-unchanged] "
        "[--timeout <timeout>]",
        "Imports definitions in JSON or compressed Erlang Term Format.",
    ),
    "status": ("status [--unit <unit>] [--timeout <timeout>]", "Displays status of a node."),
    "trace_on": ("trace_on [--vhost <vhost>]", "Enables tracing (the firehose) for a virtual host."),
    "trace_off": ("trace_off [--vhost <vhost>]", "Disables tracing (the firehose) for a virtual host."),
    "set_disk_free_limit": (
        "set_disk_free_limit <disk_limit> | mem_relative <fraction>",
        "Sets the disk_free_limit setting.",
    ),
    "stop": ("stop [--idempotent] [<pidfile>]", "Stops RabbitMQ and its runtime (Erlang VM)."),
    "help": ("help (<command> | [--list-commands])", "Displays usage information for a command."),
}

GLOBAL_PREFIX = "rabbitmqctl [--node <node>] [--longnames] [--quiet] "

# options every command takes: name -> (aliases, takes a value)
GLOBAL_OPTIONS: dict[str, tuple[tuple[str, ...], bool]] = {
    "vhost": (("-p", "--vhost"), True),
    "quiet": (("-q", "--quiet"), False),
    "silent": (("-s", "--silent"), False),
    "no_table_headers": (("--no-table-headers",), False),
    "formatter": (("--formatter",), True),
    "timeout": (("-t", "--timeout"), True),
    "node": (("-n", "--node"), True),
    "longnames": (("-l", "--longnames"), False),
}
# command-specific options
COMMAND_OPTIONS: dict[str, dict[str, tuple[tuple[str, ...], bool]]] = {
    "add_user": {"pre_hashed_password": (("--pre-hashed-password",), False)},
    "add_vhost": {
        "description": (("--description",), True),
        "tags": (("--tags",), True),
        "default_queue_type": (("--default-queue-type",), True),
    },
    "list_queues": {
        "online": (("--online",), False),
        "offline": (("--offline",), False),
        "local": (("--local",), False),
    },
    "delete_queue": {
        "if_empty": (("-e", "--if-empty"), False),
        "if_unused": (("-u", "--if-unused"), False),
        "force": (("--force",), False),
    },
    "set_policy": {"priority": (("--priority",), True), "apply_to": (("--apply-to",), True)},
    "set_operator_policy": {"priority": (("--priority",), True), "apply_to": (("--apply-to",), True)},
    "list_vhost_limits": {"global": (("--global",), False)},
    "list_user_limits": {"user": (("--user",), True), "global": (("--global",), False)},
    "export_definitions": {"format": (("--format",), True)},
    "import_definitions": {
        "format": (("--format",), True),
        "skip_if_unchanged": (("--skip-if-unchanged",), False),
    },
    "status": {"unit": (("--unit",), True)},
    "stop": {"idempotent": (("--idempotent",), False)},
    "help": {"list_commands": (("--list-commands",), False)},
}
# positional arguments: (at least, at most); None: any number (info keys)
ARITY: dict[str, tuple[int, int | None]] = {
    "add_user": (1, 2),
    "delete_user": (1, 1),
    "change_password": (2, 2),
    "list_users": (0, 0),
    "set_user_tags": (1, None),
    "add_vhost": (1, 1),
    "delete_vhost": (1, 1),
    "list_vhosts": (0, None),
    "set_permissions": (4, 4),
    "clear_permissions": (1, 1),
    "list_permissions": (0, 0),
    "list_user_permissions": (1, 1),
    "list_queues": (0, None),
    "list_exchanges": (0, None),
    "list_bindings": (0, None),
    "list_connections": (0, None),
    "list_consumers": (0, None),
    "list_channels": (0, None),
    "purge_queue": (1, 1),
    "delete_queue": (1, 1),
    "close_connection": (2, 2),
    "set_policy": (3, 3),
    "clear_policy": (1, 1),
    "list_policies": (0, 0),
    "set_operator_policy": (3, 3),
    "clear_operator_policy": (1, 1),
    "list_operator_policies": (0, 0),
    "set_topic_permissions": (4, 4),
    "clear_topic_permissions": (1, 2),
    "list_topic_permissions": (0, 0),
    "list_user_topic_permissions": (1, 1),
    "set_vhost_limits": (1, 1),
    "clear_vhost_limits": (0, 0),
    "list_vhost_limits": (0, 0),
    "set_user_limits": (2, 2),
    "clear_user_limits": (2, 2),
    "list_user_limits": (0, 0),
    "export_definitions": (1, 1),
    "import_definitions": (1, 1),
    "status": (0, 0),
    "trace_on": (0, 0),
    "trace_off": (0, 0),
    "set_disk_free_limit": (1, 2),
    "stop": (0, 1),
    "help": (0, 1),
}

# default columns of the list commands, and the info keys accepted where they do not depend
# on the version (the others come from the Series)
DEFAULT_KEYS: dict[str, tuple[str, ...]] = {
    "list_queues": ("name", "messages"),
    "list_exchanges": ("name", "type"),
    "list_bindings": (
        "source_name",
        "source_kind",
        "destination_name",
        "destination_kind",
        "routing_key",
        "arguments",
    ),
    "list_connections": ("user", "peer_host", "peer_port", "state"),
    "list_channels": ("pid", "user", "consumer_count", "messages_unacknowledged"),
    "list_consumers": (
        "queue_name",
        "channel_pid",
        "consumer_tag",
        "ack_required",
        "prefetch_count",
        "active",
        "arguments",
    ),
    "list_vhosts": ("name",),
}
FIXED_KEYS: dict[str, tuple[str, ...]] = {
    "list_exchanges": ("name", "type", "durable", "auto_delete", "internal", "arguments", "policy"),
    "list_bindings": DEFAULT_KEYS["list_bindings"],
    "list_consumers": (*DEFAULT_KEYS["list_consumers"][:-1], "activity_status", "arguments"),
}


# --------------------------------------------------------------------------- Erlang-style values


def erlang_float(value: float) -> str:
    """A float as Erlang's ~p writes it: shortest round trip, `1.0e-5` rather than `1e-05`."""
    text = repr(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{int(exponent)}"


def erlang_term(value: Any) -> str:
    """A value of an AMQP table (as JSON gives it) the way rabbitmqctl prints tables: strings
    quoted, tables as lists of `{"key",value}` pairs, arrays as lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return erlang_float(value)
    if isinstance(value, Mapping):
        return erlang_table(value)
    if isinstance(value, list):
        return "[" + ",".join(erlang_term(item) for item in value) + "]"
    return "undefined"


def erlang_table(table: Mapping[str, Any]) -> str:
    return "[" + ",".join(f"{{{erlang_term(key)},{erlang_term(item)}}}" for key, item in table.items()) + "]"


def bare(value: Any) -> str:
    """A plain info item: strings as they are, booleans and numbers as Erlang writes them,
    absent values blank, lists of names in brackets."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return erlang_float(value)
    if isinstance(value, list):
        return "[" + ", ".join(bare(item) for item in value) + "]"
    return str(value)


def policy_definition(series: Series, definition: Mapping[str, Any] | None) -> str:
    """effective_policy_definition as 4.x prints it: a proplist of binaries, or an empty map on 4.3."""
    if not definition:
        return series.empty_policy_definition
    return (
        "[" + ", ".join(f"{{<<{json.dumps(key)}>>, {bare(item)}}}" for key, item in definition.items()) + "]"
    )


def tags_of(value: Any) -> list[str]:
    """User or vhost tags: 3.10's API gives a comma-separated string, later ones a list."""
    if isinstance(value, str):
        return [tag for tag in value.split(",") if tag]
    return [str(tag) for tag in value or ()]


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- the runner


class _Fail(Exception):
    """Raised inside a command: stderr text and exit code."""

    def __init__(self, text: str, code: int) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


@dataclass
class _Call:
    """One parsed command line."""

    command: str
    args: list[str]
    options: dict[str, Any]
    argv: list[str]

    @property
    def vhost(self) -> str:
        return str(self.options.get("vhost", "/"))


# what a command produces: banner lines, then a body: a table (columns, rows, streamed?),
# lines of text, or nothing
@dataclass
class _Out:
    banner: list[str] = field(default_factory=list)
    columns: tuple[str, ...] = ()
    rows: list[dict[str, str]] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)  # typed values for --formatter json
    table: bool = False
    streamed: bool = True  # an empty streamed table prints nothing; others print an empty line
    headers: bool = True
    lines: list[str] = field(default_factory=list)
    quiet_lines: bool = False  # `lines` are informational: -q hides them too
    json: Any = None  # what --formatter json prints instead, if not a table


Hook = Callable[..., None]


class Ctl:
    """rabbitmqctl against one broker's management API. `hooks` supply what the API cannot do
    (`set_disk_free_limit`, `stop`), when the caller can (a backend handle)."""

    COMMANDS: ClassVar[tuple[str, ...]] = tuple(USAGE)

    def __init__(
        self,
        client: ManagementClient,
        *,
        series: Series | None = None,
        hooks: Mapping[str, Hook] | None = None,
    ) -> None:
        self.client = client
        self._series = series
        self._overview: dict[str, Any] | None = None
        self.hooks = dict(hooks or {})

    # facts about the broker, read once
    @property
    def overview(self) -> dict[str, Any]:
        if self._overview is None:
            self._overview = self.client.overview()
        return self._overview

    @property
    def series(self) -> Series:
        if self._series is None:
            self._series = series_for(str(self.overview.get("rabbitmq_version", "")))
        return self._series

    @property
    def node(self) -> str:
        return str(self.overview.get("node", "rabbit@localhost"))

    # ----------------------------------------------------------------- entry points

    def run(self, argv: Sequence[str]) -> Result:
        """Run one command line (without the program name); never raises for the command's own
        failures, which come back as rabbitmqctl reports them."""
        argv = list(argv)
        try:
            call = self._parse(argv)
        except _Fail as failure:
            return Result("", failure.text, failure.code)
        except ManagementError as error:
            return Result("", f"Error: unable to perform an operation: {error}\n", EX_UNAVAILABLE)
        out = _Out()
        try:
            getattr(self, f"_cmd_{call.command}")(call, out)
        except _Fail as failure:
            return Result(self._banner_text(call, out), failure.text, failure.code)
        except ManagementError as error:
            return Result(self._banner_text(call, out), f"Error:\n{error}\n", EX_UNAVAILABLE)
        return Result(self._render(call, out), "", EX_OK, out.rows)

    def __call__(self, command: str | Sequence[str]) -> CtlOutput:
        """Run a command line (a string is split as a shell would); its output, or CtlError."""
        import shlex

        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if argv and argv[0] == "rabbitmqctl":
            argv = argv[1:]
        result = self.run(argv)
        if result.code != EX_OK:
            raise CtlError(result.stderr, result.code, result.stdout)
        return CtlOutput(result.stdout, result.rows)

    # ----------------------------------------------------------------- parsing

    def _heading(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.series.bold_headings else text

    def _usage(self, command: str) -> str:
        line = self.series.usage.get(command) or USAGE[command][0]
        return f"{self._heading('Usage')}\n\n{GLOBAL_PREFIX}{line}\n"

    def _invalid(self, call_argv: list[str], command: str, message: str) -> _Fail:
        text = (
            f"Error (argument validation): {message}\nArguments given:\n\t{' '.join(call_argv)}\n\n"
            + self._usage(command)
        )
        return _Fail(text, EX_USAGE)

    def _parse(self, argv: list[str]) -> _Call:
        table = dict(GLOBAL_OPTIONS)
        positional: list[str] = []
        options: dict[str, Any] = {}
        command = next((word for word in argv if not word.startswith("-")), None)
        # the command's own options are known once the command is
        if command in COMMAND_OPTIONS:
            table.update(COMMAND_OPTIONS[command])
        by_flag = {flag: (name, takes) for name, (flags, takes) in table.items() for flag in flags}
        unknown: list[str] = []
        index = 0
        while index < len(argv):
            word = argv[index]
            index += 1
            if word.startswith("-") and len(word) > 1:
                flag, _, inline = word.partition("=")
                entry = by_flag.get(flag)
                if entry is None:
                    unknown.append(flag)
                    continue
                name, takes = entry
                if takes:
                    if inline:
                        options[name] = inline
                    elif index < len(argv):
                        options[name] = argv[index]
                        index += 1
                else:
                    options[name] = True
            else:
                positional.append(word)
        if not positional:
            raise _Fail(self._help_text(), EX_USAGE)
        command, args = positional[0], positional[1:]
        if command not in USAGE:
            raise _Fail(f"\nCommand '{command}' not found. \n\n" + self._help_text(), EX_USAGE)
        if unknown:
            listed = "\n".join(f"{flag} : " for flag in unknown)
            raise self._invalid(argv, command, f"Invalid options for this command:\n{listed}")
        low, high = ARITY[command]
        if len(args) < low:
            raise self._invalid(argv, command, "not enough arguments.")
        if high is not None and len(args) > high:
            raise self._invalid(argv, command, "too many arguments.")
        formatter = options.get("formatter")
        if formatter not in (None, "table", "json"):
            raise self._invalid(argv, command, f"Invalid formatter: {formatter}")
        return _Call(command, args, options, argv)

    # ----------------------------------------------------------------- rendering

    def _banner_text(self, call: _Call, out: _Out) -> str:
        if call.options.get("quiet") or call.options.get("silent") or call.options.get("formatter") == "json":
            return ""
        return "".join(f"{line}\n" for line in out.banner)

    def _render(self, call: _Call, out: _Out) -> str:
        if call.options.get("formatter") == "json":
            return self._render_json(call, out)
        text = self._banner_text(call, out)
        quiet = bool(call.options.get("quiet") or call.options.get("silent"))
        if out.table:
            headers = (
                out.headers and not call.options.get("silent") and not call.options.get("no_table_headers")
            )
            if not out.rows:
                return text if out.streamed else text + "\n"
            if headers:
                text += "\t".join(out.columns) + "\n"
            text += "".join("\t".join(row[column] for column in out.columns) + "\n" for row in out.rows)
            return text
        if out.quiet_lines and quiet:
            return text
        return text + "".join(f"{line}\n" for line in out.lines)

    def _render_json(self, call: _Call, out: _Out) -> str:
        if out.table:
            if not out.rows:
                return "[\n]\n" if out.streamed else "[]\n"
            objects = []
            for row, raw in zip(out.rows, out.raw or out.rows, strict=True):
                item = {column: raw.get(column, row[column]) for column in out.columns}
                if self.series.json_sorted_keys and call.command == "list_queues":
                    item = dict(sorted(item.items()))
                objects.append(compact_json(item))
            return "[\n" + "\n,".join(objects) + "\n]\n"
        if out.json is not None:
            return compact_json(out.json) + "\n"
        return compact_json({"node": self.node, "result": "ok"}) + "\n"

    def _table(
        self,
        out: _Out,
        columns: Sequence[str],
        items: Iterable[Mapping[str, Any]],
        cell: Callable[[Mapping[str, Any], str], tuple[str, Any]],
        *,
        streamed: bool = True,
        headers: bool = True,
    ) -> None:
        """Fill `out` with one row per item; `cell` gives each column's text and JSON value."""
        out.table = True
        out.columns = tuple(columns)
        out.streamed = streamed
        out.headers = headers
        for item in items:
            texts: dict[str, str] = {}
            values: dict[str, Any] = {}
            for column in columns:
                texts[column], values[column] = cell(item, column)
            out.rows.append(texts)
            out.raw.append(values)

    def _keys(self, call: _Call, allowed: Sequence[str]) -> tuple[str, ...]:
        requested = [key for arg in call.args for key in arg.split(",") if key]
        if not requested:
            return DEFAULT_KEYS[call.command]
        bad = sorted(set(requested) - set(allowed))
        if bad:
            raise self._invalid(call.argv, call.command, f"Info key(s) {','.join(bad)} are not supported")
        return tuple(requested)

    # ----------------------------------------------------------------- HTTP helpers

    def _get(self, path: str) -> Any:
        """GET, or None when the API answers 404."""
        try:
            return self.client.get(path)
        except ManagementError as error:
            if error.status == 404:
                return None
            raise

    def _send(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """PUT/POST/DELETE; a refusal becomes rabbitmqctl's "Error:" with the broker's reason."""
        try:
            self.client.request(method, path, body, headers=headers)
        except ManagementError as error:
            if error.status in (400, 404):
                raise _Fail(f"Error:\n{_reason_text(error)}\n", EX_UNAVAILABLE) from error
            raise

    def _require_vhost(self, vhost: str) -> None:
        if self._get(f"vhosts/{_quote(vhost)}") is None:
            raise _Fail(f"Virtual host '{vhost}' does not exist\n", EX_DATAERR)

    def _user(self, name: str) -> dict[str, Any] | None:
        user: dict[str, Any] | None = self._get(f"users/{_quote(name)}")
        return user

    def _require_user(self, name: str, text: str) -> dict[str, Any]:
        user = self._user(name)
        if user is None:
            raise _Fail(f"Error:\n{text}\n", EX_NOUSER)
        return user

    def _pid(self, kind: str, name: str) -> str:
        """A stand-in for an Erlang pid, which the API does not expose: stable for one name."""
        number = sum(ord(char) * (index + 1) for index, char in enumerate(f"{kind}:{name}")) % 100000
        return f"<{self.node}.0.{number}.0>"

    # ----------------------------------------------------------------- users

    def _cmd_add_user(self, call: _Call, out: _Out) -> None:
        name = call.args[0]
        out.banner.append(f'Adding user "{name}" ...')
        if len(call.args) < 2:
            out.banner.append("Password: ")  # rabbitmqctl prompts, reads nothing, and gives up
            raise _Fail("Error:\nPassword is not provided via argument or stdin\n", EX_DATAERR)
        if self._user(name) is not None:
            raise _Fail(f'Error:\nUser "{name}" already exists\n', EX_SOFTWARE)
        secret = "password_hash" if call.options.get("pre_hashed_password") else "password"
        self._send("PUT", f"users/{_quote(name)}", {secret: call.args[1], "tags": ""})
        out.lines.append(
            "Done. Don't forget to grant the user permissions to some virtual hosts! "
            "See 'rabbitmqctl help set_permissions' to learn more."
        )
        out.quiet_lines = True

    def _cmd_delete_user(self, call: _Call, out: _Out) -> None:
        name = call.args[0]
        out.banner.append(f'Deleting user "{name}" ...')
        if self._user(name) is None:
            if self.series.refuses_missing_user:
                raise _Fail(f'Error:\nUser "{name}" does not exist\n', EX_NOUSER)
            return
        self._send("DELETE", f"users/{_quote(name)}")

    def _cmd_change_password(self, call: _Call, out: _Out) -> None:
        name, password = call.args
        out.banner.append(f'Changing password for user "{name}" ...')
        user = self._require_user(name, f'User "{name}" does not exist')
        self._send(
            "PUT",
            f"users/{_quote(name)}",
            {"password": password, "tags": ",".join(tags_of(user.get("tags")))},
        )

    def _cmd_set_user_tags(self, call: _Call, out: _Out) -> None:
        name, tags = call.args[0], call.args[1:]
        out.banner.append(f'Setting tags for user "{name}" to [{", ".join(tags)}] ...')
        user = self._require_user(name, f'User "{name}" does not exist')
        body = {
            "password_hash": user.get("password_hash", ""),
            "hashing_algorithm": user.get("hashing_algorithm", "rabbit_password_hashing_sha256"),
            "tags": ",".join(tags),
        }
        self._send("PUT", f"users/{_quote(name)}", body)

    def _cmd_list_users(self, call: _Call, out: _Out) -> None:
        out.banner.append("Listing users ...")
        users = self.client.get("users")
        self._table(
            out,
            ("user", "tags"),
            users,
            lambda user, column: (
                (user["name"], user["name"])
                if column == "user"
                else (bare(tags_of(user.get("tags"))), tags_of(user.get("tags")))
            ),
        )

    # ----------------------------------------------------------------- vhosts

    def _cmd_add_vhost(self, call: _Call, out: _Out) -> None:
        name = call.args[0]
        out.banner.append(f'Adding vhost "{name}" ...')
        body: dict[str, Any] = {}
        for option in ("description", "tags", "default_queue_type"):
            if option in call.options:
                body[option] = call.options[option]
        self._send("PUT", f"vhosts/{_quote(name)}", body)

    def _cmd_delete_vhost(self, call: _Call, out: _Out) -> None:
        name = call.args[0]
        out.banner.append(f'Deleting vhost "{name}" ...')
        self._require_vhost(name)
        self._send("DELETE", f"vhosts/{_quote(name)}")

    def _cmd_list_vhosts(self, call: _Call, out: _Out) -> None:
        keys = self._keys(call, self.series.vhost_keys)
        out.banner.append("Listing vhosts ...")

        def cell(vhost: Mapping[str, Any], column: str) -> tuple[str, Any]:
            if column == "tags":
                tags = tags_of(vhost.get("tags") or (vhost.get("metadata") or {}).get("tags"))
                return bare(tags), tags
            if column == "cluster_state":
                state = vhost.get("cluster_state") or {}
                return "[" + ",".join(f"{{{node},{status}}}" for node, status in state.items()) + "]", state
            if column == "metadata":
                metadata = vhost.get("metadata") or {}
                return bare(metadata), metadata
            value = vhost.get(column)
            if column == "default_queue_type" and value is None:
                value = "undefined"
            return bare(value), value

        self._table(out, keys, self.client.get("vhosts"), cell)

    def _cmd_trace_on(self, call: _Call, out: _Out) -> None:
        self._trace(call, out, True)

    def _cmd_trace_off(self, call: _Call, out: _Out) -> None:
        self._trace(call, out, False)

    def _trace(self, call: _Call, out: _Out, on: bool) -> None:
        verb, state = ("Starting", "enabled") if on else ("Stopping", "disabled")
        out.banner.append(f'{verb} tracing for vhost "{call.vhost}" ...')
        # rabbitmqctl reports success for a vhost that does not exist; a PUT would create it
        if self._get(f"vhosts/{_quote(call.vhost)}") is not None:
            self.client.set_tracing(call.vhost, on)
        out.lines.append(f"Trace {state} for vhost {call.vhost}")

    # ----------------------------------------------------------------- permissions

    def _check_user_and_vhost(self, user: str, vhost: str) -> None:
        self._require_user(user, f"User {user} does not exist")
        if self._get(f"vhosts/{_quote(vhost)}") is None:
            raise _Fail(f"Error:\nVirtual host {vhost} does not exist\n", EX_UNAVAILABLE)

    def _cmd_set_permissions(self, call: _Call, out: _Out) -> None:
        user, configure, write, read = call.args
        out.banner.append(f'Setting permissions for user "{user}" in vhost "{call.vhost}" ...')
        self._check_user_and_vhost(user, call.vhost)
        body = {"configure": configure, "write": write, "read": read}
        try:
            self.client.request("PUT", f"permissions/{_quote(call.vhost)}/{_quote(user)}", body)
        except ManagementError as error:
            raise _Fail(f"Error:\n{self._regex_error(error)}\n", EX_UNAVAILABLE) from error

    def _regex_error(self, error: ManagementError) -> str:
        """The API's ["invalid_regexp", charlist, [charlist, position]] as the CLI's Elixir term."""
        reason = error.reason
        if isinstance(reason, list) and len(reason) == 3 and reason[0] == "invalid_regexp":
            pattern, (message, position) = _chars(reason[1]), reason[2]
            charlist = self.series.charlist
            return (
                f"{{:invalid_regexp, {charlist.format(pattern)}, "
                f"{{{charlist.format(_chars(message))}, {position}}}}}"
            )
        return _reason_text(error)

    def _cmd_clear_permissions(self, call: _Call, out: _Out) -> None:
        user = call.args[0]
        out.banner.append(f'Clearing permissions for user "{user}" in vhost "{call.vhost}" ...')
        if self._user(user) is None:
            if self.series.refuses_missing_user:
                raise _Fail(f"Error:\nUser {user} does not exist\n", EX_NOUSER)
            return
        if self._get(f"permissions/{_quote(call.vhost)}/{_quote(user)}") is not None:
            self._send("DELETE", f"permissions/{_quote(call.vhost)}/{_quote(user)}")

    def _cmd_list_permissions(self, call: _Call, out: _Out) -> None:
        out.banner.append(f'Listing permissions for vhost "{call.vhost}" ...')
        self._require_vhost(call.vhost)
        items = self.client.get(f"vhosts/{_quote(call.vhost)}/permissions")
        self._table(out, ("user", "configure", "write", "read"), items, _plain_cell, streamed=False)

    def _cmd_list_user_permissions(self, call: _Call, out: _Out) -> None:
        user = call.args[0]
        out.banner.append(f'Listing permissions for user "{user}" ...')
        if self._user(user) is None:
            raise _Fail(f'Error:\n{{:no_such_user, "{user}"}}\n', EX_UNAVAILABLE)
        items = self.client.get(f"users/{_quote(user)}/permissions")
        self._table(out, ("vhost", "configure", "write", "read"), items, _plain_cell, streamed=False)

    def _cmd_set_topic_permissions(self, call: _Call, out: _Out) -> None:
        user, exchange, write, read = call.args
        out.banner.append(
            f'Setting topic permissions on "{exchange}" for user "{user}" in vhost "{call.vhost}" ...'
        )
        self._check_user_and_vhost(user, call.vhost)
        body = {"exchange": exchange, "write": write, "read": read}
        try:
            self.client.request("PUT", f"topic-permissions/{_quote(call.vhost)}/{_quote(user)}", body)
        except ManagementError as error:
            raise _Fail(f"Error:\n{self._regex_error(error)}\n", EX_UNAVAILABLE) from error

    def _cmd_clear_topic_permissions(self, call: _Call, out: _Out) -> None:
        user = call.args[0]
        path = f"topic-permissions/{_quote(call.vhost)}/{_quote(user)}"
        if len(call.args) == 2:
            exchange = call.args[1]
            out.banner.append(
                f'Clearing topic permissions on "{exchange}" for user "{user}" in vhost "{call.vhost}" ...'
            )
            existing = self._get(path) or []
            if not any(item.get("exchange") == exchange for item in existing):
                return
            # the API clears one user's topic permissions in a vhost at once: put the others back
            self._send("DELETE", path)
            for item in existing:
                if item.get("exchange") != exchange:
                    body = {key: item[key] for key in ("exchange", "write", "read")}
                    self._send("PUT", path, body)
            return
        out.banner.append(f'Clearing topic permissions for user "{user}" in vhost "{call.vhost}" ...')
        if self._get(path):
            self._send("DELETE", path)

    def _cmd_list_topic_permissions(self, call: _Call, out: _Out) -> None:
        out.banner.append(f'Listing topic permissions for vhost "{call.vhost}" ...')
        self._require_vhost(call.vhost)
        items = self.client.get(f"vhosts/{_quote(call.vhost)}/topic-permissions")
        self._table(out, ("user", "exchange", "write", "read"), items, _plain_cell, streamed=False)

    def _cmd_list_user_topic_permissions(self, call: _Call, out: _Out) -> None:
        user = call.args[0]
        out.banner.append(f'Listing topic permissions for user "{user}" ...')
        if self._user(user) is None:
            raise _Fail(f'Error:\n{{:no_such_user, "{user}"}}\n', EX_UNAVAILABLE)
        items = self.client.get(f"users/{_quote(user)}/topic-permissions")
        columns = ("vhost", "exchange", "write", "read")
        self._table(out, columns, items, _plain_cell, streamed=False, headers=False)

    # ----------------------------------------------------------------- policies

    def _cmd_set_policy(self, call: _Call, out: _Out) -> None:
        self._set_policy(call, out, "policies", 'Setting policy "{}"')

    def _cmd_set_operator_policy(self, call: _Call, out: _Out) -> None:
        self._set_policy(call, out, "operator-policies", 'Setting operator policy override "{}"')

    def _set_policy(self, call: _Call, out: _Out, path: str, what: str) -> None:
        name, pattern, definition = call.args
        priority = call.options.get("priority", "0")
        out.banner.append(
            f'{what.format(name)} for pattern "{pattern}" to "{definition}" with priority "{priority}" '
            f'for vhost "{call.vhost}" ...'
        )
        self._require_vhost(call.vhost)
        try:
            parsed = json.loads(definition)
        except ValueError:
            raise _Fail(
                f"Error:\nCould not parse JSON document: {{error,\n    {{failed_to_decode_json,\n"
                f'        <<"{definition}">>}}}}\n',
                EX_UNAVAILABLE,
            ) from None
        body = {
            "pattern": pattern,
            "definition": parsed,
            "priority": int(priority),
            "apply-to": call.options.get("apply_to", "all"),
        }
        self._send("PUT", f"{path}/{_quote(call.vhost)}/{_quote(name)}", body)

    def _cmd_clear_policy(self, call: _Call, out: _Out) -> None:
        self._clear_policy(call, out, "policies", "policy")

    def _cmd_clear_operator_policy(self, call: _Call, out: _Out) -> None:
        self._clear_policy(call, out, "operator-policies", "operator policy")

    def _clear_policy(self, call: _Call, out: _Out, path: str, what: str) -> None:
        name = call.args[0]
        out.banner.append(f'Clearing {what} "{name}" on vhost "{call.vhost}" ...')
        target = f"{path}/{_quote(call.vhost)}/{_quote(name)}"
        if self._get(target) is None:
            raise _Fail("Error:\nParameter does not exist\n", EX_UNAVAILABLE)
        self._send("DELETE", target)

    def _cmd_list_policies(self, call: _Call, out: _Out) -> None:
        self._list_policies(call, out, "policies", "policies")

    def _cmd_list_operator_policies(self, call: _Call, out: _Out) -> None:
        self._list_policies(call, out, "operator-policies", "operator policy overrides")

    def _list_policies(self, call: _Call, out: _Out, path: str, what: str) -> None:
        out.banner.append(f'Listing {what} for vhost "{call.vhost}" ...')
        self._require_vhost(call.vhost)
        items = self.client.get(f"{path}/{_quote(call.vhost)}")

        def cell(policy: Mapping[str, Any], column: str) -> tuple[str, Any]:
            if column == "definition":
                text = compact_json(policy["definition"])
                return text, text
            return bare(policy.get(column)), policy.get(column)

        columns = ("vhost", "name", "pattern", "apply-to", "definition", "priority")
        self._table(out, columns, items, cell, streamed=False)

    # ----------------------------------------------------------------- limits

    def _cmd_set_vhost_limits(self, call: _Call, out: _Out) -> None:
        definition = call.args[0]
        out.banner.append(f'Setting vhost limits to "{definition}" for vhost "{call.vhost}" ...')
        self._require_vhost(call.vhost)
        for name, value in _json_object(definition).items():
            self._send("PUT", f"vhost-limits/{_quote(call.vhost)}/{_quote(name)}", {"value": value})

    def _cmd_clear_vhost_limits(self, call: _Call, out: _Out) -> None:
        out.banner.append(f'Clearing vhost "{call.vhost}" limits ...')
        self._require_vhost(call.vhost)
        for name in self._vhost_limits(call.vhost):
            self._send("DELETE", f"vhost-limits/{_quote(call.vhost)}/{_quote(name)}")

    def _vhost_limits(self, vhost: str) -> dict[str, Any]:
        """A vhost's limits, by name (3.10's API lists them in the order they were set one by
        one; rabbitmqctl, which sets them all at once, prints them as given, usually sorted)."""
        items = self._get(f"vhost-limits/{_quote(vhost)}") or []
        return dict(sorted(items[0]["value"].items())) if items else {}

    def _cmd_list_vhost_limits(self, call: _Call, out: _Out) -> None:
        if call.options.get("global"):
            out.banner.append("Listing limits for all vhosts ...")
            items = self.client.get("vhost-limits")

            def cell(item: Mapping[str, Any], column: str) -> tuple[str, Any]:
                if column == "limits":
                    text = compact_json(dict(sorted(item["value"].items())))
                    return text, text
                return item["vhost"], item["vhost"]

            self._table(out, ("vhost", "limits"), items, cell, streamed=False)
            return
        out.banner.append(f'Listing limits for vhost "{call.vhost}" ...')
        self._require_vhost(call.vhost)
        limits = self._vhost_limits(call.vhost)
        text = compact_json(limits) if limits else ""
        out.lines.append(text)
        out.json = self._value_json(text)

    def _value_json(self, value: Any) -> dict[str, Any]:
        if self.series.value_first:
            return {"node": self.node, "value": value, "result": "ok"}
        return {"node": self.node, "result": "ok", "value": value}

    def _cmd_set_user_limits(self, call: _Call, out: _Out) -> None:
        user, definition = call.args
        out.banner.append(f'Setting user limits to "{definition}" for user "{user}" ...')
        self._require_user(user, f'User "{user}" does not exist')
        for name, value in _json_object(definition).items():
            self._send("PUT", f"user-limits/{_quote(user)}/{_quote(name)}", {"value": value})

    def _user_limits(self, user: str) -> dict[str, Any]:
        items = self._get(f"user-limits/{_quote(user)}") or []
        return dict(items[0]["value"]) if items else {}

    def _cmd_clear_user_limits(self, call: _Call, out: _Out) -> None:
        user, which = call.args
        if which == "all":
            out.banner.append(f'Clearing all limits for user "{user}" ...')
            names = list(self._user_limits(user))
        else:
            out.banner.append(f'Clearing "{which}" limit for user "{user}" ...')
            names = [which] if which in self._user_limits(user) else []
        for name in names:
            self._send("DELETE", f"user-limits/{_quote(user)}/{_quote(name)}")

    def _cmd_list_user_limits(self, call: _Call, out: _Out) -> None:
        if call.options.get("global"):
            out.banner.append("Listing limits for all users ...")
            items = self.client.get("user-limits")

            def cell(item: Mapping[str, Any], column: str) -> tuple[str, Any]:
                if column == "limits":
                    text = compact_json(dict(sorted(item["value"].items())))
                    return text, text
                return item["user"], item["user"]

            self._table(out, ("user", "limits"), items, cell, streamed=False)
            return
        user = call.options.get("user") or self.client.username
        out.banner.append(f'Listing limits for user "{user}" ...')
        self._require_user(user, f'User "{user}" does not exist')
        text = compact_json(self._user_limits(user))
        out.lines.append(text)
        out.json = self._value_json(text)

    # ----------------------------------------------------------------- queues, exchanges, bindings

    def _vhost_items(self, kind: str, vhost: str) -> list[dict[str, Any]]:
        """A vhost's queues, exchanges...: none when the vhost does not exist, as rabbitmqctl."""
        items: list[dict[str, Any]] = self._get(f"{kind}/{_quote(vhost)}") or []
        return items

    def _cmd_list_queues(self, call: _Call, out: _Out) -> None:
        keys = self._keys(call, self.series.queue_keys)
        out.banner += ["Timeout: 60.0 seconds ...", f"Listing queues for vhost {call.vhost} ..."]
        self._table(out, keys, self._vhost_items("queues", call.vhost), self._queue_cell)

    # columns a quorum queue leaves blank in rabbitmqctl although the API gives them a value
    QUORUM_BLANK: ClassVar[frozenset[str]] = frozenset(
        [
            "owner_pid",
            "exclusive",
            "exclusive_consumer_pid",
            "exclusive_consumer_tag",
            "messages_ready_ram",
            "consumer_utilisation",
            "consumer_capacity",
            "message_bytes",
            "head_message_timestamp",
            "messages_persistent",
        ]
    )

    def _queue_cell(self, queue: Mapping[str, Any], column: str) -> tuple[str, Any]:
        kind = queue.get("type", "classic")
        if (
            column in ("slave_pids", "synchronised_slave_pids", "disk_reads", "disk_writes")
            and kind != "classic"
        ):
            return "", None
        if kind == "quorum" and column in self.QUORUM_BLANK:
            return "", None
        if column == "arguments":
            return erlang_table(queue.get("arguments") or {}), queue.get("arguments") or {}
        if column == "effective_policy_definition":
            definition = queue.get("effective_policy_definition") or {}
            return policy_definition(self.series, definition), definition
        if column == "pid":
            text = self._pid("queue", f"{queue.get('vhost')}/{queue.get('name')}")
            return text, text
        if column in ("owner_pid", "exclusive_consumer_pid"):
            details = queue.get("owner_pid_details") if column == "owner_pid" else None
            if not details:
                return "", None
            text = self._pid("connection", str(details.get("name")))
            return text, text
        if column == "leader":
            leader = queue.get("leader") or queue.get("node")
            return bare(leader), leader
        if column == "members":
            members = queue.get("members") or ([queue["node"]] if queue.get("node") else [])
            return bare(members), members
        if column == "online":
            online = queue.get("online")
            return ("", None) if online is None else (bare(online), online)
        value = queue.get(column)
        return bare(value), value

    def _cmd_list_exchanges(self, call: _Call, out: _Out) -> None:
        keys = self._keys(call, FIXED_KEYS["list_exchanges"])
        out.banner.append(f"Listing exchanges for vhost {call.vhost} ...")

        def cell(exchange: Mapping[str, Any], column: str) -> tuple[str, Any]:
            if column == "arguments":
                return erlang_table(exchange.get("arguments") or {}), exchange.get("arguments") or {}
            value = exchange.get(column)
            return bare(value), value

        self._table(out, keys, self._vhost_items("exchanges", call.vhost), cell)

    def _cmd_list_bindings(self, call: _Call, out: _Out) -> None:
        keys = self._keys(call, FIXED_KEYS["list_bindings"])
        out.banner.append(f"Listing bindings for vhost {call.vhost}...")
        fields = {
            "source_name": "source",
            "destination_name": "destination",
            "destination_kind": "destination_type",
            "routing_key": "routing_key",
        }

        def cell(binding: Mapping[str, Any], column: str) -> tuple[str, Any]:
            if column == "source_kind":
                return "exchange", "exchange"
            if column == "arguments":
                arguments = dict(sorted((binding.get("arguments") or {}).items()))
                return erlang_table(arguments), arguments
            value = binding.get(fields[column])
            return bare(value), value

        self._table(out, keys, self._vhost_items("bindings", call.vhost), cell)

    def _cmd_purge_queue(self, call: _Call, out: _Out) -> None:
        name = call.args[0]
        out.banner.append(f"Purging queue '{name}' in vhost '{call.vhost}' ...")
        try:
            self.client.request("DELETE", f"queues/{_quote(call.vhost)}/{_quote(name)}/contents")
        except ManagementError as error:
            if error.status == 404:
                code, text = self.series.purge_missing
                raise _Fail(f"{text}\n", code) from error
            raise

    def _cmd_delete_queue(self, call: _Call, out: _Out) -> None:
        name = call.args[0]
        conditions = "".join(
            text
            for option, text in (("if_empty", "if queue is empty "), ("if_unused", "if queue is unused "))
            if call.options.get(option)
        )
        out.banner.append(f"Deleting queue '{name}' on vhost '{call.vhost}' {conditions}...")
        path = f"queues/{_quote(call.vhost)}/{_quote(name)}"
        queue = self._get(path)
        if queue is None:
            raise _Fail(f"Error:\n{self.series.delete_queue_missing}\n", EX_USAGE)
        query = "&".join(
            f"{flag}=true"
            for option, flag in (("if_empty", "if-empty"), ("if_unused", "if-unused"))
            if call.options.get(option)
        )
        try:
            self.client.request("DELETE", path + (f"?{query}" if query else ""))
        except ManagementError as error:
            raise self._delete_refused(error) from error
        out.lines.append(
            f"Queue was successfully deleted with {queue.get('messages_ready', 0) or 0} ready messages"
        )

    def _delete_refused(self, error: ManagementError) -> _Fail:
        """--if-empty / --if-unused refused: 3.10 says so in words (64), 4.x shows the AMQP
        error term (69); the API gives the AMQP text ("queue 'q' in vhost '/' not empty")."""
        reason = _reason_text(error)
        if not self.series.queue_error_terms:
            words = "Queue is in use" if reason.endswith("in use") else "Queue is not empty"
            return _Fail(f"Error:\n{words}\n", EX_USAGE)
        term = self.series.charlist.format(reason)
        return _Fail(f"Error:\n{{:amqp_error, :precondition_failed, {term}, :none}}\n", EX_UNAVAILABLE)

    # ----------------------------------------------------------------- connections, channels, consumers

    def _cmd_list_connections(self, call: _Call, out: _Out) -> None:
        keys = self._keys(call, self.series.connection_keys)
        out.banner.append("Listing connections ...")

        def cell(connection: Mapping[str, Any], column: str) -> tuple[str, Any]:
            if column == "pid":
                text = self._pid("connection", str(connection.get("name")))
                return text, text
            if column == "protocol":
                protocol = str(connection.get("protocol", ""))
                version = protocol.removeprefix("AMQP ").replace("-", ",")
                return f"{{{version}}}", protocol
            if column == "client_properties":
                properties = connection.get("client_properties") or {}
                return erlang_table(properties), properties
            value = connection.get(column)
            return bare(value), value

        self._table(out, keys, self.client.get("connections"), cell)

    def _cmd_list_channels(self, call: _Call, out: _Out) -> None:
        keys = self._keys(call, self.series.channel_keys)
        out.banner.append("Listing channels ...")

        def cell(channel: Mapping[str, Any], column: str) -> tuple[str, Any]:
            if column == "pid":
                text = self._pid("channel", str(channel.get("name")))
                return text, text
            if column == "connection":
                text = self._pid("connection", str((channel.get("connection_details") or {}).get("name")))
                return text, text
            value = channel.get(column)
            return bare(value), value

        channels = [item for item in self.client.get("channels") if item.get("connection_details")]
        self._table(out, keys, channels, cell)

    def _cmd_list_consumers(self, call: _Call, out: _Out) -> None:
        keys = self._keys(call, FIXED_KEYS["list_consumers"])
        out.banner.append(f"Listing consumers in vhost {call.vhost} ...")

        def cell(consumer: Mapping[str, Any], column: str) -> tuple[str, Any]:
            if column == "queue_name":
                return str(consumer["queue"]["name"]), consumer["queue"]["name"]
            if column == "channel_pid":
                text = self._pid("channel", str((consumer.get("channel_details") or {}).get("name")))
                return text, text
            if column == "arguments":
                return erlang_table(consumer.get("arguments") or {}), consumer.get("arguments") or {}
            if column == "activity_status":
                status = consumer.get("activity_status", "up")
                return bare(status), status
            value = consumer.get(column)
            return bare(value), value

        consumers = [
            item for item in self._vhost_items("consumers", call.vhost) if item.get("channel_details")
        ]
        self._table(out, keys, consumers, cell)

    def _cmd_close_connection(self, call: _Call, out: _Out) -> None:
        name, reason = call.args
        out.banner.append(f"Closing connection {name}, reason: {reason}...")
        try:
            self.client.request("DELETE", f"connections/{_quote(name)}", headers={"X-Reason": reason})
        except ManagementError as error:
            if error.status == 404:
                raise _Fail(f'Error:\nError:\n{{:invalid_pid_syntax, "{name}"}}\n', EX_UNAVAILABLE) from error
            raise

    # ----------------------------------------------------------------- definitions

    def _cmd_export_definitions(self, call: _Call, out: _Out) -> None:
        target = call.args[0]
        definitions = exported(self.client.get("definitions"))
        text = json.dumps(definitions, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        if target == "-":
            out.lines.append(text)
            out.json = definitions
            return
        out.banner.append(f'Exporting definitions in JSON to a file at "{target}" ...')
        try:
            Path(target).write_text(text)
        except OSError:
            raise _Fail(
                f"Error:\nNo permissions to write to file {target} or its parent directory\n", EX_DATAERR
            ) from None

    def _cmd_import_definitions(self, call: _Call, out: _Out) -> None:
        source = call.args[0]
        try:
            text = Path(source).read_text()
        except OSError:
            raise self._invalid(
                call.argv, call.command, f"Bad argument: File {source} does not exist"
            ) from None
        # that error is a data error (65), not a usage error, for rabbitmqctl
        out.banner.append(f'Importing definitions in JSON from a file at "{source}" ...')
        try:
            document = json.loads(text)
        except ValueError as error:
            raise _Fail(
                f"Error:\nFailed to deserialise input (format: JSON) (error: {error})\n", EX_DATAERR
            ) from None
        self._send("POST", "definitions", document)
        out.lines.append(self.series.import_done)

    # ----------------------------------------------------------------- node

    def _cmd_status(self, call: _Call, out: _Out) -> None:
        overview = self.overview
        out.banner.append(f"Status of node {self.node} ...")
        nodes: dict[str, Any] = next(
            (item for item in self._get("nodes") or [] if item.get("name") == self.node), {}
        )
        alarms = [
            name for name, key in (("disk", "disk_free_alarm"), ("memory", "mem_alarm")) if nodes.get(key)
        ]
        totals = overview.get("object_totals") or {}
        listeners = overview.get("listeners") or []

        def known(label: str, key: str, show: Callable[[Any], str] = str) -> list[str]:
            """A line for a figure the API gives (the simulator's node has fewer)."""
            return [f"{label}: {show(nodes[key])}"] if nodes.get(key) is not None else []

        lines = [
            "Runtime",
            "",
            *known("OS PID", "os_pid"),
            *known("Uptime (seconds)", "uptime", lambda ms: str(int(ms) // 1000)),
            f"RabbitMQ version: {overview.get('rabbitmq_version', '')}",
            f"Node name: {self.node}",
            f"Erlang configuration: {overview.get('erlang_full_version', '')}",
            "",
            "Alarms",
            "",
            *([ALARM_TEXT[name].format(node=self.node) for name in alarms] or ["(none)"]),
            "",
            "Memory",
            "",
            *known("Total memory used", "mem_used", lambda used: f"{_gb(used)} gb"),
            *known("Memory high watermark", "mem_limit", lambda limit: f"{_gb(limit)} gb"),
            "",
            "Free Disk Space",
            "",
            *known("Low free disk space watermark", "disk_free_limit", lambda limit: f"{_gb(limit)} gb"),
            *known("Free disk space", "disk_free", lambda free: f"{_gb(free)} gb"),
            "",
            "Totals",
            "",
            f"Connection count: {totals.get('connections', 0)}",
            f"Queue count: {totals.get('queues', 0)}",
            f"Virtual host count: {len(self.client.get('vhosts'))}",
            "",
            "Listeners",
            "",
            *(
                f"Interface: {item.get('ip_address')}, port: {item.get('port')}, "
                f"protocol: {item.get('protocol')}"
                for item in listeners
            ),
        ]
        out.lines += lines
        out.json = {"node": self.node, "rabbitmq_version": overview.get("rabbitmq_version"), "alarms": alarms}

    def _cmd_set_disk_free_limit(self, call: _Call, out: _Out) -> None:
        if call.args[0] == "mem_relative":
            if len(call.args) != 2:
                raise self._invalid(call.argv, call.command, "not enough arguments.")
            out.banner.append(
                f"Setting disk free limit on {self.node} to {call.args[1]} times the total RAM ..."
            )
            self._hook(call, "set_disk_free_limit", mem_relative=float(call.args[1]))
            return
        if len(call.args) != 1:
            raise self._invalid(call.argv, call.command, "too many arguments.")
        value = call.args[0]
        out.banner.append(f"Setting disk free limit on {self.node} to {value} bytes ...")
        self._hook(call, "set_disk_free_limit", int(value) if value.isdigit() else value)

    def _cmd_stop(self, call: _Call, out: _Out) -> None:
        out.banner.append(f"Stopping and halting node {self.node} ...")
        self._hook(call, "stop")

    def _hook(self, call: _Call, name: str, *args: Any, **kwargs: Any) -> None:
        hook = self.hooks.get(name)
        if hook is None:
            raise _Fail(
                f"Error:\n{call.command} cannot be done through the management HTTP API; run rabbitmqctl "
                "on the broker's node (or call the backend handle's method of that name)\n",
                EX_UNAVAILABLE,
            )
        hook(*args, **kwargs)

    # ----------------------------------------------------------------- help

    def _help_text(self) -> str:
        width = max(len(name) for name in USAGE) + 3
        lines = [
            self._heading("Usage"),
            "",
            "rabbitmqctl [--node <node>] [--timeout <timeout>] [--longnames] [--quiet] <command> "
            "[<command options>]",
            "",
            "Available commands (through the management HTTP API):",
            "",
            *(f"   {name.ljust(width)}{description}" for name, (_, description) in USAGE.items()),
            "",
        ]
        return "\n".join(lines) + "\n"

    def _cmd_help(self, call: _Call, out: _Out) -> None:
        if not call.args:
            out.lines.append(self._help_text().rstrip("\n"))
            return
        command = call.args[0]
        if command not in USAGE:
            raise _Fail(f"\nCommand '{command}' not found. \n\n" + self._help_text(), EX_USAGE)
        out.lines += ["", self._usage(command), USAGE[command][1]]


# what rabbitmqctl's export holds (the API's adds product names and an explanation)
EXPORTED_KEYS = [
    "bindings",
    "exchanges",
    "global_parameters",
    "parameters",
    "permissions",
    "policies",
    "queues",
    "rabbit_version",
    "rabbitmq_version",
    "topic_permissions",
    "users",
    "vhosts",
]


def exported(definitions: dict[str, Any]) -> dict[str, Any]:
    """The API's definitions as rabbitmqctl exports them (measured on 3.10, 4.0 and 4.3): its
    keys only, exchanges without `internal`, each queue with its `type`."""
    document = {key: definitions[key] for key in EXPORTED_KEYS if key in definitions}
    document["exchanges"] = [
        {key: value for key, value in exchange.items() if key != "internal"}
        for exchange in document.get("exchanges") or []
    ]
    for queue in document.get("queues") or []:
        queue.setdefault("type", (queue.get("arguments") or {}).get("x-queue-type", "classic"))
    return document


ALARM_TEXT = {"disk": "Free disk space alarm on node {node}", "memory": "Memory alarm on node {node}"}


def _plain_cell(item: Mapping[str, Any], column: str) -> tuple[str, Any]:
    value = item.get(column)
    return bare(value), value


def _chars(value: Any) -> str:
    """An Erlang charlist (a JSON list of code points) as text."""
    if isinstance(value, list):
        return "".join(chr(point) for point in value if isinstance(point, int))
    return str(value)


def _reason_text(error: ManagementError) -> str:
    """The `reason` of the API's error body, unescaped (3.10 and 4.0 HTML-escape it)."""
    reason = error.reason
    if reason is None:
        return str(error)
    if isinstance(reason, list) and len(reason) == 2 and reason[0] == "no_such_exchange":
        return f"Exchange {_chars(reason[1])} does not exist"
    text = reason if isinstance(reason, str) else json.dumps(reason)
    return html.unescape(text).rstrip("\n") + ("\n" if text.startswith("Validation failed") else "")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise _Fail("Error:\nJSON decoding error. Reason: badarg\n", EX_UNAVAILABLE) from None
    if not isinstance(value, dict):
        raise _Fail("Error:\nJSON decoding error. Reason: badarg\n", EX_UNAVAILABLE)
    return value


def _gb(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "?"
    return f"{round(value / 1_000_000_000, 4)}"
