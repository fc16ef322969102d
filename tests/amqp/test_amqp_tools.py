"""rabbitmq-c's command-line tools (Debian's amqp-tools) against the server, as subprocesses.

rabbitmq-c is a C client: its own codec, a blocking socket, its own reading of the URL. These are
the tools people reach for in shell scripts and tutorials (`amqp-publish`, `amqp-consume`, …), so
they must work unchanged. Connection options are given both ways the tools take them: one --url,
and --server/--port/--vhost/--username/--password. Every subprocess has a timeout.
The broker comes from `clients.broker_target()`: the embedded simulator, or the real broker named
by RABBITSIM_CLIENT_TESTS_URL (how every expectation here was first checked against RabbitMQ
3.10.8 and 4.0.5). The tools are installed by .ci/clients.sh; without them these tests fail."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator

import pika
import pika.exceptions
import pytest

from .clients import STEP_SECONDS, Target, broker_target, require_tool, unique


@pytest.fixture
def target() -> Iterator[Target]:
    with broker_target() as found:
        yield found


def url_options(target: Target) -> list[str]:
    return ["--url", target.url]


def server_options(target: Target) -> list[str]:
    return [
        "--server",
        target.host,
        "--port",
        str(target.port),
        "--vhost",
        target.vhost,
        "--username",
        "guest",
        "--password",
        "guest",
    ]


CONNECTION_STYLES = [url_options, server_options]


def tool(name: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run one amqp-tools command to completion (or fail the test after STEP_SECONDS)."""
    executable = require_tool(name)
    if stdin is None:  # never the test runner's own stdin: amqp-publish without -b would read it
        return subprocess.run(
            [executable, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=STEP_SECONDS,
            check=False,
        )
    return subprocess.run(
        [executable, *args], input=stdin, capture_output=True, timeout=STEP_SECONDS, check=False
    )


def ok(result: subprocess.CompletedProcess[bytes]) -> bytes:
    """The command's stdout, after checking it succeeded."""
    assert result.returncode == 0, (result.returncode, result.stderr.decode(errors="replace"))
    return result.stdout


def pika_connection(target: Target) -> pika.BlockingConnection:
    parameters = pika.URLParameters(target.url)
    parameters.socket_timeout = STEP_SECONDS
    parameters.stack_timeout = STEP_SECONDS
    parameters.connection_attempts = 1
    return pika.BlockingConnection(parameters)


@pytest.mark.parametrize("options", CONNECTION_STYLES, ids=["url", "server-port"])
def test_declare_publish_get_delete(target: Target, options: Callable[[Target], list[str]]) -> None:
    """The queue's whole life from the shell: declare, publish (by -b and line by line from stdin),
    get one at a time until empty (exit status 2), delete (prints the count it removed)."""
    connect = options(target)
    name = unique("shell")
    assert ok(tool("amqp-declare-queue", *connect, "-q", name)) == f"{name}\n".encode()
    ok(tool("amqp-publish", *connect, "-r", name, "-b", "first"))
    ok(tool("amqp-publish", *connect, "-r", name, "-l", stdin=b"second\nthird\n"))
    ok(tool("amqp-publish", *connect, "-r", name, "-b", "left behind"))

    assert ok(tool("amqp-get", *connect, "-q", name)) == b"first"
    assert ok(tool("amqp-get", *connect, "-q", name)) == b"second\n"  # -l keeps each line's newline
    assert ok(tool("amqp-get", *connect, "-q", name)) == b"third\n"
    assert ok(tool("amqp-delete-queue", *connect, "-q", name)) == b"1\n"

    missing = tool("amqp-get", *connect, "-q", name)
    assert missing.returncode == 1
    assert (
        f"server channel error 404, message: NOT_FOUND - no queue '{name}' in vhost '{target.vhost}'".encode()
        in missing.stderr
    )


def test_get_on_an_empty_queue_exits_2(target: Target) -> None:
    """amqp-get's basic.get-empty is its own exit status, distinct from an error."""
    name = unique("empty")
    ok(tool("amqp-declare-queue", *url_options(target), "-q", name))
    empty = tool("amqp-get", *url_options(target), "-q", name)
    assert (empty.returncode, empty.stdout) == (2, b"")
    assert ok(tool("amqp-delete-queue", *url_options(target), "-q", name)) == b"0\n"


@pytest.mark.parametrize("options", CONNECTION_STYLES, ids=["url", "server-port"])
def test_consume_a_counted_batch_with_prefetch(
    target: Target, options: Callable[[Target], list[str]]
) -> None:
    """amqp-consume runs its command once per message (body on stdin), acks each, and stops after
    --count; what it leaves behind is still in the queue."""
    connect = options(target)
    name = unique("batch")
    ok(tool("amqp-declare-queue", *connect, "-q", name, "--durable"))
    for n in range(5):
        ok(tool("amqp-publish", *connect, "-r", name, "-p", "-b", f"job {n};"))
    consumed = ok(tool("amqp-consume", *connect, "-q", name, "-c", "3", "-p", "1", "cat"))
    assert consumed == b"job 0;job 1;job 2;"
    assert ok(tool("amqp-get", *connect, "-q", name)) == b"job 3;"
    assert ok(tool("amqp-delete-queue", *connect, "-q", name)) == b"1\n"


def test_published_properties_arrive(target: Target) -> None:
    """amqp-publish's options become basic properties and headers, read back here with pika."""
    name = unique("props")
    ok(tool("amqp-declare-queue", *url_options(target), "-q", name))
    ok(
        tool(
            "amqp-publish",
            *url_options(target),
            "-r",
            name,
            "-p",
            "-C",
            "application/json",
            "-E",
            "utf-8",
            "-t",
            "replies",
            "-H",
            "x-trace: abc",
            "-H",
            "lang: en",
            "-b",
            '{"hello": "world"}',
        )
    )
    connection = pika_connection(target)
    try:
        channel = connection.channel()
        method, properties, body = channel.basic_get(name, auto_ack=True)
        assert method is not None
        assert body == b'{"hello": "world"}'
        assert (method.exchange, method.routing_key, method.redelivered) == ("", name, False)
        assert properties.content_type == "application/json"
        assert properties.content_encoding == "utf-8"
        assert properties.reply_to == "replies"
        assert properties.delivery_mode == 2
        assert properties.headers == {"x-trace": "abc", "lang": "en"}
        channel.queue_delete(name)
    finally:
        connection.close()


ERRORS = {
    "publish-to-missing-exchange": (
        ["amqp-publish", "-e", "{name}", "-r", "k", "-b", "x"],
        "closing channel: server channel error 404, message: NOT_FOUND - no exchange '{name}' "
        "in vhost '{vhost}'",
    ),
    "reserved-queue-name": (
        ["amqp-declare-queue", "-q", "amq.{name}"],
        "queue.declare: server channel error 403, message: ACCESS_REFUSED - queue name 'amq.{name}' "
        "contains reserved prefix 'amq.*'",
    ),
    "consume-missing-queue": (
        ["amqp-consume", "-q", "{name}", "-c", "1", "cat"],
        "basic.consume: server channel error 404, message: NOT_FOUND - no queue '{name}' in vhost '{vhost}'",
    ),
}


@pytest.mark.parametrize("case", ERRORS, ids=list(ERRORS))
def test_channel_errors_print_rabbitmq_code_and_text(target: Target, case: str) -> None:
    """rabbitmq-c prints the failing step, the reply code and RabbitMQ's text, and exits 1. The
    publish case is the subtle one: amqp-publish learns of the 404 only when it closes the channel."""
    argv, expected = ERRORS[case]
    name = unique("absent")
    args = [arg.format(name=name) for arg in argv[1:]]
    result = tool(argv[0], *url_options(target), *args)
    assert result.returncode == 1
    assert result.stderr.decode().strip() == expected.format(name=name, vhost=target.vhost)


def test_redeclare_with_other_durability_is_406(target: Target) -> None:
    """The learner's classic mistake, from the shell: the queue exists non-durable."""
    name = unique("inequivalent")
    ok(tool("amqp-declare-queue", *url_options(target), "-q", name))
    result = tool("amqp-declare-queue", *url_options(target), "-q", name, "--durable")
    assert result.returncode == 1
    assert result.stderr.decode().strip() == (
        f"queue.declare: server channel error 406, message: PRECONDITION_FAILED - inequivalent arg "
        f"'durable' for queue '{name}' in vhost '{target.vhost}': received 'true' but current is 'false'"
    )
    assert ok(tool("amqp-delete-queue", *url_options(target), "-q", name)) == b"0\n"


def test_login_errors_close_the_connection(target: Target) -> None:
    """Wrong password: 403 at login. Unknown vhost: 530 NOT_ALLOWED on connection.open."""
    wrong_password = ["--server", target.host, "--port", str(target.port), "--password", "wrong"]
    result = tool("amqp-publish", *wrong_password, "-r", "x", "-b", "y")
    assert result.returncode == 1
    assert result.stderr.decode().strip() == (
        "logging in to AMQP server: server connection error 403, message: ACCESS_REFUSED - Login was "
        "refused using authentication mechanism PLAIN. For details see the broker logfile."
    )
    vhost = unique("novhost")
    result = tool(
        "amqp-publish",
        "--url",
        f"amqp://guest:guest@{target.host}:{target.port}/{vhost}",
        "-r",
        "x",
        "-b",
        "y",
    )
    assert result.returncode == 1
    assert result.stderr.decode().strip() == (
        "logging in to AMQP server: server connection error 530, message: "
        f"NOT_ALLOWED - vhost {vhost} not found"
    )


def test_consume_binds_a_server_named_exclusive_queue(target: Target) -> None:
    """`amqp-consume -e EXCHANGE -r KEY -x` declares its own amq.gen-… queue, binds it and consumes.
    The test publishes (mandatory, confirmed) until the tool's binding routes a message, which
    waits on the binding as a condition instead of sleeping."""
    exchange = unique("shell_topic")
    connection = pika_connection(target)
    consumer: subprocess.Popen[bytes] | None = None
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, "topic", auto_delete=True)
        channel.confirm_delivery()
        command = ["amqp-consume", "-e", exchange, "-r", "logs.*", "-x", "-c", "1", "cat"]
        consumer = subprocess.Popen(
            [require_tool(command[0]), *url_options(target), *command[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + STEP_SECONDS
        while True:
            try:
                channel.basic_publish(exchange, "logs.error", b"routed at last", mandatory=True)
                break
            except pika.exceptions.UnroutableError:
                assert consumer.poll() is None, consumer.communicate()[1].decode(errors="replace")
                assert time.monotonic() < deadline, "amqp-consume never bound its queue"
                connection.process_data_events(time_limit=0.01)
        stdout, stderr = consumer.communicate(timeout=STEP_SECONDS)
        assert consumer.returncode == 0, stderr.decode(errors="replace")
        assert stdout == b"routed at last"
        assert stderr.startswith(b"Server provided queue name: amq.gen-"), stderr
        channel.exchange_delete(exchange)
    finally:
        if consumer is not None and consumer.poll() is None:
            consumer.kill()
            consumer.wait()
        connection.close()
