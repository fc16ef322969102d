"""`broker.ctl(...)` and `rabbitsim ctl` on the simulator: the output a notebook shows, the table
for code, errors as rabbitmqctl's text and exit code, the version series, the command line.
(Agreement with the real rabbitmqctl is tested in test_ctl_vs_rabbitmqctl.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pika
import pika.exceptions
import pytest

from rabbitsim.backends import Ctl, CtlError, CtlOutput, EmbeddedBroker, ManagementClient
from rabbitsim.backends._ctl import (
    EX_DATAERR,
    EX_NOUSER,
    EX_UNAVAILABLE,
    EX_USAGE,
    V3_10,
    V4_0,
    V4_3,
    erlang_table,
    policy_definition,
    series_for,
)
from rabbitsim.cli import main


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(management_port=0) as handle:
        connection = pika.BlockingConnection(handle.parameters)
        channel = connection.channel()
        channel.queue_declare("hello")
        channel.queue_declare("tasks", durable=True)
        channel.confirm_delivery()
        for body in (b"a", b"b"):
            channel.basic_publish("", "hello", body)
        connection.close()
        yield handle


def test_a_notebook_shows_what_rabbitmqctl_prints(broker: EmbeddedBroker) -> None:
    output = broker.ctl("list_queues name messages_ready messages_unacknowledged")
    expected = (
        "Timeout: 60.0 seconds ...\n"
        "Listing queues for vhost / ...\n"
        "name\tmessages_ready\tmessages_unacknowledged\n"
        "hello\t2\t0\n"
        "tasks\t0\t0\n"
    )
    assert isinstance(output, CtlOutput)
    assert output == expected
    assert repr(output) == expected  # the cell's value is displayed as the terminal would
    assert output.rows == [
        {"name": "hello", "messages_ready": "2", "messages_unacknowledged": "0"},
        {"name": "tasks", "messages_ready": "0", "messages_unacknowledged": "0"},
    ]


def test_quiet_silent_and_headers(broker: EmbeddedBroker) -> None:
    assert broker.ctl("list_queues -q") == "name\tmessages\nhello\t2\ntasks\t0\n"
    assert broker.ctl("list_queues --silent") == "hello\t2\ntasks\t0\n"
    assert broker.ctl("list_queues --no-table-headers name").endswith("...\nhello\ntasks\n")
    assert broker.ctl("list_queues --formatter json name messages") == (
        '[\n{"messages":2,"name":"hello"}\n,{"messages":0,"name":"tasks"}\n]\n'
    )
    assert (
        broker.ctl("rabbitmqctl list_queues -q name,durable") == "name\tdurable\nhello\tfalse\ntasks\ttrue\n"
    )


def test_errors_carry_rabbitmqctl_text_and_exit_code(broker: EmbeddedBroker) -> None:
    with pytest.raises(CtlError) as missing_vhost:
        broker.ctl("delete_vhost no-such-vhost")
    assert missing_vhost.value.code == EX_DATAERR
    assert missing_vhost.value.text == "Virtual host 'no-such-vhost' does not exist\n"
    assert missing_vhost.value.output == 'Deleting vhost "no-such-vhost" ...\n'
    with pytest.raises(CtlError) as missing_user:
        broker.ctl("change_password nobody secret")
    assert (missing_user.value.code, missing_user.value.text) == (
        EX_NOUSER,
        'Error:\nUser "nobody" does not exist\n',
    )
    with pytest.raises(CtlError) as usage:
        broker.ctl("set_permissions guest .*")
    assert usage.value.code == EX_USAGE
    assert usage.value.text.startswith("Error (argument validation): not enough arguments.\n")
    assert "set_permissions [--vhost <vhost>] <username> <conf> <write> <read>" in usage.value.text
    with pytest.raises(CtlError) as bad_key:
        broker.ctl("list_queues name bogus other")
    assert "Info key(s) bogus,other are not supported" in bad_key.value.text


def test_users_vhosts_permissions_policies_round_trip(broker: EmbeddedBroker) -> None:
    assert broker.ctl("add_vhost unit-v") == 'Adding vhost "unit-v" ...\n'
    broker.ctl("add_user unit-u secret")
    broker.ctl("set_user_tags unit-u monitoring")
    broker.ctl("set_permissions -p unit-v unit-u ^unit- .* .*")
    assert broker.ctl("list_user_permissions -q unit-u").rows == [
        {"vhost": "unit-v", "configure": "^unit-", "write": ".*", "read": ".*"}
    ]
    assert {"user": "unit-u", "tags": "[monitoring]"} in broker.ctl("list_users").rows
    broker.ctl("""set_policy -p unit-v cap ^q '{"max-length":2}' --apply-to queues --priority 1""")
    assert broker.ctl("list_policies -q -p unit-v") == (
        'vhost\tname\tpattern\tapply-to\tdefinition\tpriority\nunit-v\tcap\t^q\tqueues\t{"max-length":2}\t1\n'
    )
    with pytest.raises(CtlError) as gone:
        broker.ctl("clear_policy -p unit-v nothing")
    assert (gone.value.code, gone.value.text) == (EX_UNAVAILABLE, "Error:\nParameter does not exist\n")
    broker.ctl("delete_user unit-u")
    broker.ctl("delete_vhost unit-v")
    assert "unit-v" not in broker.ctl("list_vhosts -q")


def test_set_disk_free_limit_goes_through_the_handle(broker: EmbeddedBroker) -> None:
    broker.simulate_free_disk("100MB")
    try:
        assert (
            broker.ctl("set_disk_free_limit 1GB")
            == "Setting disk free limit on rabbit@localhost to 1GB bytes ...\n"
        )
        assert "disk" in broker.alarms()
        broker.ctl("set_disk_free_limit 50000000")
        assert "disk" not in broker.alarms()
    finally:
        broker.simulate_free_disk(None)


def test_what_the_management_api_cannot_do_says_so(broker: EmbeddedBroker) -> None:
    assert broker.management_url is not None
    result = Ctl(ManagementClient(broker.management_url)).run(["stop"])
    assert result.code == EX_UNAVAILABLE
    assert "cannot be done through the management HTTP API" in result.stderr
    assert result.stdout == "Stopping and halting node rabbit@localhost ...\n"


def test_the_command_line(broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str]) -> None:
    assert broker.management_url is not None
    assert main(["ctl", "--url", broker.management_url, "list_exchanges", "-q", "name"]) == 0
    assert capsys.readouterr().out.startswith("name\n\namq.direct\n")
    assert main(["ctl", "--url", broker.management_url, "delete_vhost", "nope"]) == EX_DATAERR
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        'Deleting vhost "nope" ...\n',
        "Virtual host 'nope' does not exist\n",
    )
    assert main(["ctl", "--url", broker.management_url, "nosuchcommand"]) == EX_USAGE
    assert "Command 'nosuchcommand' not found." in capsys.readouterr().err


def test_the_environment_gives_the_url(
    broker: EmbeddedBroker, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert broker.management_url is not None
    monkeypatch.setenv("RABBITSIM_MANAGEMENT_URL", broker.management_url)
    assert main(["ctl", "list_users", "--formatter", "json"]) == 0
    assert '{"user":"guest","tags":["administrator"]}' in capsys.readouterr().out


def test_an_unreachable_api_is_unavailable() -> None:
    result = Ctl(ManagementClient("http://guest:guest@127.0.0.1:9/")).run(["list_queues"])
    assert result.code == EX_UNAVAILABLE


def test_the_version_picks_the_series() -> None:
    assert [series_for(v) for v in ("3.10.8", "3.13.7", "4.0.5", "4.1.0", "4.3.6", "bogus")] == [
        V3_10,
        V3_10,
        V4_0,
        V4_3,
        V4_3,
        V4_3,
    ]


def test_the_profile_decides_version_differences() -> None:
    with EmbeddedBroker(profile="3.10", management_port=0) as old:
        with pytest.raises(CtlError) as missing:
            old.ctl("delete_user nobody")  # 3.10 refuses; 4.x says nothing
        assert missing.value.code == EX_NOUSER
        with pytest.raises(CtlError) as usage:
            old.ctl("list_queues bogus")
        assert "\x1b[1mUsage\x1b[0m" in usage.value.text  # 3.10 writes headings in bold
    with EmbeddedBroker(profile="4.3", management_port=0) as new:
        assert new.ctl("delete_user nobody") == 'Deleting user "nobody" ...\n'


def test_erlang_terms() -> None:
    table = {
        "x-max-length": 10,
        "x-dead-letter-exchange": "dlx",
        "flag": True,
        "rate": 1e-05,
        "nested": {"a": [1, "b"]},
    }
    assert erlang_table(table) == (
        '[{"x-max-length",10},{"x-dead-letter-exchange","dlx"},{"flag",true},{"rate",1.0e-5},{"nested",[{"a",[1,"b"]}]}]'
    )
    assert erlang_table({}) == "[]"
    assert policy_definition(V4_3, {}) == "#{}"
    assert policy_definition(V4_0, {}) == "[]"
    assert policy_definition(V4_3, {"max-length": 5}) == '[{<<"max-length">>, 5}]'


def test_purge_and_delete_queue(broker: EmbeddedBroker) -> None:
    connection = pika.BlockingConnection(broker.parameters)
    channel = connection.channel()
    channel.queue_declare("doomed")
    channel.confirm_delivery()
    for body in (b"1", b"2", b"3"):
        channel.basic_publish("", "doomed", body)
    connection.close()
    with pytest.raises(CtlError) as not_empty:
        broker.ctl("delete_queue doomed --if-empty")
    assert (not_empty.value.code, not_empty.value.text) == (
        EX_UNAVAILABLE,
        """Error:\n{:amqp_error, :precondition_failed, ~c"queue 'doomed' in vhost '/' not empty", :none}\n""",
    )
    assert broker.ctl("delete_queue doomed") == (
        "Deleting queue 'doomed' on vhost '/' ...\nQueue was successfully deleted with 3 ready messages\n"
    )
    with pytest.raises(CtlError) as gone:
        broker.ctl("purge_queue doomed")
    assert (gone.value.code, gone.value.text) == (
        EX_DATAERR,
        "Object (queue, stream, exchange, etc) was not found\n",
    )


def test_close_connection_by_name(broker: EmbeddedBroker) -> None:
    parameters = broker.parameters
    parameters.client_properties = {"connection_name": "to-close"}
    connection = pika.BlockingConnection(parameters)
    names = [row["name"] for row in broker.ctl("list_connections -q name user").rows]
    assert len(names) == 1
    output = broker.ctl(f"close_connection '{names[0]}' 'maintenance window'")
    assert output == f"Closing connection {names[0]}, reason: maintenance window...\n"
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
        connection.process_data_events(2)
        connection.channel()
    assert closed.value.reply_code == 320
    assert "maintenance window" in closed.value.reply_text
