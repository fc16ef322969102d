"""`rabbitsim ctl` against the real rabbitmqctl: the same command lines, on the same state, print
the same text and exit with the same code, on RabbitMQ 3.10, 4.0 and 4.3 (ours speaking through
the management API), and on the simulator of each version profile (compared with the real
rabbitmqctl on the real broker of that version, the same state built on both). Erlang pids and
the order of rows aside (see rabbitsim/backends/_ctl.py)."""

from __future__ import annotations

import json
import shlex
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from rabbitsim.backends import EmbeddedBroker, ManagementClient
from rabbitsim.backends._ctl import Result
from rabbitsim.backends._local import LocalBroker
from rabbitsim.backends._url import management_url_for
from tests.backends.ctl_support import (
    State,
    assert_same,
    build_state,
    only_lines_with,
    ours,
    place_file,
    prints_headers,
    real_rabbitmqctl,
    remove_file,
    remove_state,
    retrying,
    settle,
)
from tests.real_brokers import require_real_broker

VERSIONS = ["3.10", "4.0", "4.3"]

# read-only command lines, and failures that change nothing; {v}: the test's vhost, {u}: its
# user, {t}: its token
READ_COMMANDS = [
    "list_queues -p {v}",
    "list_queues -p {v} name messages_ready messages_unacknowledged",
    "list_queues -p {v} name durable auto_delete arguments policy exclusive messages messages_ready "
    "messages_unacknowledged consumers state type",
    "list_queues -p {v} name,messages --no-table-headers",
    "list_queues -p {v} -q name consumers",
    "list_queues -p {v} -s",
    "list_queues -p {v} --formatter json name messages consumers",
    "list_queues -p {v} name nosuchkey",
    "list_queues -p {v} --bogus",
    "list_queues -p hb-{t}-nope",
    "list_exchanges -p {v}",
    "list_exchanges -p {v} name type durable auto_delete internal arguments policy",
    "list_bindings -p {v}",
    "list_consumers -p {v}",
    "list_consumers -p {v} queue_name consumer_tag ack_required prefetch_count active arguments",
    "list_permissions -p {v}",
    "list_permissions -p hb-{t}-nope",
    "list_user_permissions {u}",
    "list_user_permissions hb-{t}-nobody",
    "list_topic_permissions -p {v}",
    "list_user_topic_permissions {u}",
    "list_policies -p {v}",
    "list_policies -p {v} --formatter json",
    "list_operator_policies -p {v}",
    "list_vhost_limits -p {v}",
    "list_vhost_limits -p {v} --formatter json",
    "list_user_limits --user {u}",
    "list_user_limits {u}",
    "set_permissions -p {v} {u} .*",
    "change_password hb-{t}-nobody x",
    "set_user_tags hb-{t}-nobody monitoring",
    "set_permissions -p {v} hb-{t}-nobody .* .* .*",
    "set_permissions -p hb-{t}-nope {u} .* .* .*",
    "set_permissions -p {v} {u} ( .* .*",
    "set_topic_permissions -p {v} hb-{t}-nobody amq.topic .* .*",
    "set_topic_permissions -p {v} {u} hb-no-such-exchange .* .*",
    "purge_queue -p {v} nosuchq",
    "delete_queue -p {v} nosuchq",
    "delete_vhost hb-{t}-nope",
    "set_policy -p {v} hb-bad ^q '{{\"nosuchkey\":1}}'",
    'set_policy -p {v} hb-bad ^q \'{{"max-length":"x"}}\'',
    "set_policy -p hb-{t}-nope hb-bad ^q '{{\"max-length\":1}}'",
    "clear_policy -p {v} hb-nopolicy",
    "clear_operator_policy -p {v} hb-nopolicy",
    "set_vhost_limits -p {v} '{{\"bad\":1}}'",
    "trace_on -p hb-{t}-nope",
]

# known differences of the simulator (for its core or management API to fix), by profile
SIMULATOR_DIFFERS = {
    "4.3": {
        "set_topic_permissions -p {v} {u} hb-no-such-exchange .* .*": (
            "4.3 refuses topic permissions on a missing exchange; the simulator accepts them"
        ),
    },
}

# node-wide lists (others add rows at any time): compared on the rows that mention the token
NODE_WIDE = [
    "list_users",
    "list_vhosts name tracing",
    "list_vhost_limits --global",
    "list_connections user vhost channels state protocol auth_mechanism ssl frame_max channel_max",
    "list_channels vhost user number transactional confirm consumer_count messages_unacknowledged "
    "prefetch_count",
]

# sequences that change state, run once with a name for the real rabbitmqctl and once with
# another for ours ({n}), outputs compared step by step with the names exchanged
USER_STEPS = [
    "add_user {n} pw1",
    "add_user {n} pw1",
    "change_password {n} pw2",
    "set_user_tags {n} monitoring policymaker",
    "list_users",
    "set_user_limits {n} '{{\"max-connections\":3}}'",
    "list_user_limits --user {n}",
    "clear_user_limits {n} max-connections",
    "list_user_limits --user {n}",
    "set_permissions -p {v} {n} ^a .* x",
    "list_user_permissions {n}",
    "clear_permissions -p {v} {n}",
    "list_user_permissions {n}",
    "delete_user {n}",
    "delete_user {n}",
    "clear_permissions -p {v} {n}",
]
VHOST_STEPS = [
    "add_vhost {n}",
    "add_vhost {n}",
    "set_permissions -p {n} guest .* .* .*",
    "list_permissions -p {n}",
    "set_topic_permissions -p {n} guest amq.topic ^a ^b",
    "set_topic_permissions -p {n} guest amq.fanout .* .*",
    "list_topic_permissions -p {n}",
    "clear_topic_permissions -p {n} guest amq.fanout",
    "list_topic_permissions -p {n}",
    "clear_topic_permissions -p {n} guest",
    "list_topic_permissions -p {n}",
    "set_policy -p {n} hb-p1 ^q '{{\"max-length\":5}}' --priority 3 --apply-to queues",
    'set_policy -p {n} hb-p2 ^ex \'{{"alternate-exchange":"x"}}\' --apply-to exchanges',
    "list_policies -p {n}",
    "clear_policy -p {n} hb-p2",
    "clear_policy -p {n} hb-p2",
    "list_policies -p {n}",
    "set_operator_policy -p {n} hb-op ^q '{{\"max-length\":7}}' --apply-to queues",
    "list_operator_policies -p {n}",
    "clear_operator_policy -p {n} hb-op",
    "clear_operator_policy -p {n} hb-op",
    'set_vhost_limits -p {n} \'{{"max-connections":10,"max-queues":20}}\'',
    "list_vhost_limits -p {n}",
    "clear_vhost_limits -p {n}",
    "list_vhost_limits -p {n}",
    "trace_on -p {n}",
    "list_vhosts name tracing",
    "trace_off -p {n}",
    "list_vhosts name tracing",
    "list_queues -p {n}",
    "clear_permissions -p {n} guest",
    "list_permissions -p {n}",
    "delete_vhost {n}",
    "delete_vhost {n}",
]


class Real:
    """A real broker, its rabbitmqctl and its management URL."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.amqp_url = require_real_broker(version)
        local = LocalBroker.find(self.amqp_url)
        if local is None:
            pytest.fail(f"no /run/rabbitsim/brokers entry for the RabbitMQ {version} at {self.amqp_url}")
        self.argv = local.ctl
        self.management_url = management_url_for(self.amqp_url)

    def ctl(self, line: str) -> Result:
        return retrying(lambda: real_rabbitmqctl(self.argv, shlex.split(line)))

    def ours(self, line: str, management_url: str | None = None) -> Result:
        url = management_url or self.management_url
        return retrying(lambda: ours(url, shlex.split(line)))


@pytest.fixture(scope="module", params=VERSIONS)
def real(request: pytest.FixtureRequest) -> Real:
    return Real(str(request.param))


@pytest.fixture(scope="module")
def real_state(real: Real) -> Iterator[State]:
    state = build_state(real.amqp_url, real.management_url)
    yield state
    remove_state(state)


def _fill(line: str, state: State, **names: str) -> str:
    return line.format(v=state.vhost, u=state.user, t=state.token, **names)


def _node_wide(result: Result, needle: str) -> Result:
    return Result(only_lines_with(result.stdout, needle), result.stderr, result.code)


#: how often a read is compared again while the two sides disagree: rabbitmqctl asks the queues
#: themselves, the management API reads statistics they emit now and then (a quorum queue's
#: consumer count can lag a second or more on a loaded machine)
ATTEMPTS = 6


@pytest.mark.parametrize("template", READ_COMMANDS)
def test_reading_and_refusing(real: Real, real_state: State, template: str) -> None:
    line = _fill(template, real_state)
    settle(real_state)
    for attempt in range(ATTEMPTS):
        try:
            assert_same(real.ctl(line), real.ours(line), what=line, headers=prints_headers(line))
            return
        except AssertionError:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.5)


@pytest.mark.parametrize("template", NODE_WIDE)
def test_node_wide_lists(real: Real, real_state: State, template: str) -> None:
    settle(real_state)
    mine = _node_wide(real.ours(template), real_state.token)
    theirs = _node_wide(real.ctl(template), real_state.token)
    assert real_state.token in theirs.stdout  # the comparison is about something
    assert_same(theirs, mine, what=template)


def _run_steps(real: Real, state: State, steps: list[str], kind: str) -> None:
    theirs_name, our_name = f"hb-{state.token}-{kind}r", f"hb-{state.token}-{kind}o"
    target = state.extra_users if kind == "u" else state.extra_vhosts
    target += [theirs_name, our_name]
    for step in steps:
        theirs = real.ctl(_fill(step, state, n=theirs_name))
        mine = real.ours(_fill(step, state, n=our_name))
        if step.startswith(("list_users", "list_vhosts")):
            theirs, mine = _node_wide(theirs, theirs_name), _node_wide(mine, our_name)
        assert_same(theirs, mine, replacements=[(theirs_name, our_name)], what=step)


def test_user_commands(real: Real, real_state: State) -> None:
    _run_steps(real, real_state, USER_STEPS, "u")


def test_vhost_commands(real: Real, real_state: State) -> None:
    _run_steps(real, real_state, VHOST_STEPS, "v")


def test_add_user_without_password(real: Real, real_state: State) -> None:
    line = f"add_user hb-{real_state.token}-nopass"
    assert_same(real.ctl(line), real.ours(line), what=line)


def test_queue_commands(real: Real, real_state: State) -> None:
    """purge_queue and delete_queue on queues with messages (the count comes from the API)."""
    import pika

    parameters = pika.URLParameters(real_state.url_for(real_state.vhost))
    connection = pika.BlockingConnection(parameters)
    channel = connection.channel()
    names = {side: (f"hb-{side}-purged", f"hb-{side}-deleted") for side in ("r", "o")}
    for purged, deleted in names.values():
        for queue in (purged, deleted):
            channel.queue_declare(queue)
            channel.basic_publish("", queue, b"one")
            channel.basic_publish("", queue, b"two")
    connection.close()
    client = ManagementClient(real.management_url)
    vhost = urllib.parse.quote(real_state.vhost, safe="")
    _wait_for(
        lambda: all(
            q.get("messages_ready") == 2 for q in client.get(f"queues/{vhost}") if q["name"].startswith("hb-")
        )
    )
    v = real_state.vhost
    steps = [
        "purge_queue -p {v} {purged}",
        "delete_queue -p {v} {purged} --if-empty",
        "delete_queue -p {v} {deleted} --if-empty",
        "delete_queue -p {v} {deleted}",
        "delete_queue -p {v} {deleted}",
    ]
    for step in steps:
        (theirs_purged, theirs_deleted), (our_purged, our_deleted) = names["r"], names["o"]
        theirs = real.ctl(step.format(v=v, purged=theirs_purged, deleted=theirs_deleted))
        mine = real.ours(step.format(v=v, purged=our_purged, deleted=our_deleted))
        if step.startswith("purge"):
            path = f"queues/{vhost}/{our_purged}"
            _wait_for(lambda path=path: client.get(path).get("messages_ready") == 0)
        assert_same(
            theirs, mine, replacements=[(theirs_purged, our_purged), (theirs_deleted, our_deleted)], what=step
        )


def _wait_for(condition: object, timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("the management statistics did not catch up")


def test_import_definitions(real: Real, real_state: State, tmp_path: Path) -> None:
    del tmp_path  # the file must be where a chrooted rabbitmqctl sees it too
    sides = {"r": f"hb-{real_state.token}-dr", "o": f"hb-{real_state.token}-do"}
    real_state.extra_vhosts += list(sides.values())
    paths = {}
    for side, vhost in sides.items():
        path = Path(f"/tmp/hb-{real_state.token}-{side}.json")
        document = {
            "vhosts": [{"name": vhost}],
            "queues": [
                {"name": "iq", "vhost": vhost, "durable": True, "auto_delete": False, "arguments": {}}
            ],
        }
        place_file(real.argv, path, json.dumps(document))
        paths[side] = path
    try:
        theirs = real.ctl(f"import_definitions {paths['r']}")
        mine = real.ours(f"import_definitions {paths['o']}")
        assert_same(
            theirs, mine, replacements=[(str(paths["r"]), str(paths["o"]))], what="import_definitions"
        )
        _wait_for(lambda: real.ctl(f"list_queues -p {sides['r']} -q name").stdout.endswith("iq\n"))
        for line in ("list_queues -p {d} name durable", "delete_vhost {d}"):
            theirs = real.ctl(line.format(d=sides["r"]))
            mine = real.ours(line.format(d=sides["o"]))
            assert_same(theirs, mine, replacements=[(sides["r"], sides["o"])], what=line)
    finally:
        for path in paths.values():
            remove_file(real.argv, path)


def test_export_definitions_agrees_for_the_vhost(real: Real, real_state: State) -> None:
    theirs, mine = real.ctl("export_definitions -"), real.ours("export_definitions -")
    assert theirs.code == mine.code == 0
    assert sorted(json.loads(theirs.stdout)) == sorted(json.loads(mine.stdout))
    for key in ("queues", "exchanges", "bindings", "policies", "permissions", "topic_permissions"):
        real_items = _of_vhost(json.loads(theirs.stdout), key, real_state.vhost)
        our_items = _of_vhost(json.loads(mine.stdout), key, real_state.vhost)
        assert real_items, key
        assert real_items == our_items, key


def _of_vhost(document: dict[str, object], key: str, vhost: str) -> list[str]:
    items = document.get(key) or []
    assert isinstance(items, list)
    return sorted(json.dumps(item, sort_keys=True) for item in items if item.get("vhost") == vhost)


def test_status_names_the_node_and_version(real: Real) -> None:
    theirs, mine = real.ctl("status"), real.ours("status")
    assert theirs.code == mine.code == 0
    assert theirs.stdout.splitlines()[0] == mine.stdout.splitlines()[0]  # "Status of node rabbit@vm ..."
    version = next(line for line in theirs.stdout.splitlines() if line.startswith("RabbitMQ version:"))
    assert version in mine.stdout.splitlines()


def test_unknown_command_is_a_usage_error(real: Real) -> None:
    theirs, mine = real.ctl("nosuchcommand"), real.ours("nosuchcommand")
    assert theirs.code == mine.code == 64
    assert mine.stderr.splitlines()[:2] == theirs.stderr.splitlines()[:2]  # "", "Command '...' not found."


# --------------------------------------------------------------------------- the simulator


@pytest.fixture(scope="module")
def simulator(real: Real) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(profile=real.version, management_port=0)
    yield broker
    broker.close()


def _node_names(real: Real, simulator: EmbeddedBroker) -> list[tuple[str, str]]:
    """The real node's name as the simulator's, for outputs that carry it (JSON, banners)."""
    assert simulator.management_url is not None
    real_node = ManagementClient(real.management_url).overview()["node"]
    return [(real_node, ManagementClient(simulator.management_url).overview()["node"])]


@pytest.fixture(scope="module")
def twin_states(real: Real, simulator: EmbeddedBroker) -> Iterator[tuple[State, State]]:
    """The same state (same names) on the real broker and on the simulator of its version."""
    assert simulator.management_url is not None
    real_side = build_state(real.amqp_url, real.management_url)
    sim_side = build_state(simulator.url, simulator.management_url, token=real_side.token)
    yield real_side, sim_side
    remove_state(real_side)
    remove_state(sim_side)


@pytest.mark.parametrize("template", READ_COMMANDS)
def test_simulator_reads_and_refuses_as_rabbitmqctl(
    request: pytest.FixtureRequest,
    real: Real,
    simulator: EmbeddedBroker,
    twin_states: tuple[State, State],
    template: str,
) -> None:
    real_side, _ = twin_states
    line = _fill(template, real_side)
    if template in SIMULATOR_DIFFERS.get(real.version, {}):
        request.applymarker(pytest.mark.xfail(strict=True, reason=SIMULATOR_DIFFERS[real.version][template]))
    settle(real_side)
    for attempt in range(ATTEMPTS):  # the real side's statistics can lag its queues (ATTEMPTS)
        try:
            assert_same(
                real.ctl(line),
                real.ours(line, simulator.management_url),
                replacements=_node_names(real, simulator),
                what=line,
                headers=prints_headers(line),
            )
            return
        except AssertionError:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.5)


@pytest.mark.parametrize("template", NODE_WIDE)
def test_simulator_node_wide_lists(
    real: Real, simulator: EmbeddedBroker, twin_states: tuple[State, State], template: str
) -> None:
    real_side, _ = twin_states
    theirs = _node_wide(real.ctl(template), real_side.token)
    mine = _node_wide(real.ours(template, simulator.management_url), real_side.token)
    assert_same(theirs, mine, what=template)


@pytest.mark.parametrize("steps", [USER_STEPS, VHOST_STEPS], ids=["users", "vhosts"])
def test_simulator_changes_state_as_rabbitmqctl(
    real: Real, simulator: EmbeddedBroker, twin_states: tuple[State, State], steps: list[str]
) -> None:
    real_side, _ = twin_states
    kind = "u" if steps is USER_STEPS else "v"
    name = f"hb-{real_side.token}-{kind}s"
    (real_side.extra_users if kind == "u" else real_side.extra_vhosts).append(name)
    for step in steps:
        line = _fill(step, real_side, n=name)
        theirs = real.ctl(line)
        mine = real.ours(line, simulator.management_url)
        if step.startswith(("list_users", "list_vhosts")):
            theirs, mine = _node_wide(theirs, name), _node_wide(mine, name)
        assert_same(theirs, mine, what=step)
