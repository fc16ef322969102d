"""Chapter 8, administration: the checks of exercises 8.1 (give a user exactly the rights a
consumer of one queue needs), 8.2 (repair a durable queue declared with the wrong arguments by
the study notes' recipe: delete the vhost, recreate it, set its permissions again) and 8.3 (a
policy that limits every queue whose name starts with "orders." to a number of messages).

Each check builds a sandbox of its own on the notebook's broker (a vhost and a user with
unguessable names, made and removed through the management HTTP API, so it works on the
simulator and on a shared real RabbitMQ alike), runs the learner's function on it, and then
judges by what the broker does: which operations a real pika connection of that user is
allowed or refused (403 and 530 with RabbitMQ's own texts), which queue exists with which
arguments, how many messages each queue keeps."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from rabbitsim._language import Text
from rabbitsim.backends import BrokerHandle, ManagementClient, ManagementError

from ._client import describe, private_name
from ._feedback import Both, Feedback, and_joined, commented, exercise, listed, plural, right, say, wrong

__all__ = [
    "CONSUMED_QUEUE",
    "ORDERS_LIMIT",
    "TASKS",
    "TASKS_ARGUMENTS",
    "check_consumer_rights",
    "check_orders_policy",
    "check_recreated_vhost",
]


# --- the sandbox every check works in -----------------------------------------------------------------


def _api(broker: BrokerHandle) -> ManagementClient:
    """The broker's management API (every backend serves one; the simulator's is `rabbitsim.admin`)."""
    if broker.management_url is None:
        raise RuntimeError(f"{broker!r} serves no management API, which this chapter's checks use")
    return ManagementClient(broker.management_url)


def _path(*parts: str) -> str:
    return "/".join(urllib.parse.quote(part, safe="") for part in parts)


def _connect_as(broker: BrokerHandle, user: str, password: str, vhost: str) -> pika.BlockingConnection:
    """A connection to `vhost` as `user`: what an application given those credentials opens."""
    parameters = broker.parameters
    parameters.credentials = pika.PlainCredentials(user, password)
    parameters.virtual_host = vhost
    parameters.client_properties = {"connection_name": f"exercise as {user}"}
    return pika.BlockingConnection(parameters)


@contextlib.contextmanager
def _closing(connection: pika.BlockingConnection) -> Iterator[pika.BlockingConnection]:
    """A connection for a `with` block whose close may fail quietly (the broker may have closed it)."""
    try:
        yield connection
    finally:
        if connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError):
                connection.close()


@dataclass
class _Sandbox:
    """A vhost and a user of the check's own, removed at the end whatever the learner did to them.
    guest, who creates the vhost through the management API, gets full permissions in it (the
    API grants them to its caller), so the check can set the scene with guest's connections."""

    broker: BrokerHandle
    what: str
    vhost: str = ""
    user: str = ""
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def __post_init__(self) -> None:
        self.vhost = private_name(f"{self.what}-vhost")
        self.user = private_name(f"{self.what}-user")

    @property
    def api(self) -> ManagementClient:
        return _api(self.broker)

    def __enter__(self) -> _Sandbox:
        self.api.request("PUT", _path("vhosts", self.vhost), {})
        self.api.request("PUT", _path("users", self.user), {"password": self.password, "tags": ""})
        return self

    def __exit__(self, *exc: object) -> None:
        for path in (_path("vhosts", self.vhost), _path("users", self.user)):
            with contextlib.suppress(ManagementError):
                self.api.request("DELETE", path)

    def admin(self) -> contextlib.AbstractContextManager[pika.BlockingConnection]:
        """guest's connection to the sandbox vhost (the scene is set with it)."""
        parameters = self.broker.parameters
        parameters.virtual_host = self.vhost
        parameters.client_properties = {"connection_name": f"exercise {self.what} (setup)"}
        return _closing(pika.BlockingConnection(parameters))

    def as_user(self) -> contextlib.AbstractContextManager[pika.BlockingConnection]:
        return _closing(_connect_as(self.broker, self.user, self.password, self.vhost))

    def set_permissions(self, configure: str, write: str, read: str) -> None:
        body = {"configure": configure, "write": write, "read": read}
        self.api.request("PUT", _path("permissions", self.vhost, self.user), body)

    def permissions(self) -> dict[str, tuple[str, str, str]]:
        """The user's permissions, by vhost (wherever the learner's function put them)."""
        try:
            found = self.api.get(_path("users", self.user, "permissions"))
        except ManagementError:
            return {}
        return {item["vhost"]: (item["configure"], item["write"], item["read"]) for item in found}

    def queue(self, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.api.get(_path("queues", self.vhost, name))
        except ManagementError:
            return None
        return found

    def vhost_exists(self) -> bool:
        try:
            self.api.get(_path("vhosts", self.vhost))
        except ManagementError:
            return False
        return True


def _refusal(error: pika.exceptions.AMQPConnectionError) -> str:
    """A refused connection as the broker put it ("530 NOT_ALLOWED - ..."): pika's blocking
    adapter wraps the broker's connection.close into text."""
    text = str(error.args[0]) if error.args else str(error)
    found = re.search(r"\((\d+)\) ['\"](.*)['\"]\)?$", text)
    return f"{found.group(1)} {found.group(2)}" if found else f"{type(error).__name__}: {text}"


def _run_learner(function: Callable[..., object], *args: Any) -> str | None:
    """Call the learner's function; None if it returned, else what it raised, as they should read it."""
    try:
        function(*args)
    except Exception as error:  # the learner's code: report it, never raise it
        text = getattr(error, "text", None)  # a CtlError carries rabbitmqctl's own words
        return (
            f"{type(error).__name__}: {' '.join(text.split())}" if isinstance(text, str) else describe(error)
        )
    return None


def _triple(permissions: tuple[str, str, str]) -> str:
    return say("configure {!r}, write {!r}, read {!r}", "configure {!r}、write {!r}、read {!r}").format(
        *permissions
    )


# --- exercise 8.1 -----------------------------------------------------------------------------------

CONSUMED_QUEUE = "invoices"
#: queues beside it that a consumer of `invoices` must not read, and which regex mistake each catches
NEIGHBOURS = {
    "invoices.archive": Both(
        "the read regex has no `$`: it matches every name that *starts* with 'invoices'",
        "read 正则没有 `$`：凡是以 'invoices' *开头*的名字，它都匹配",
    ),
    "old.invoices": Both(
        "the read regex has no `^`: it matches 'invoices' anywhere in a name",
        "read 正则没有 `^`：名字里任何位置出现 'invoices'，它都匹配",
    ),
    "payroll": Both(
        "the read regex matches queues that have nothing to do with invoices",
        "read 正则匹配了与 invoices 毫不相干的队列",
    ),
}
CONSUME_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class _Probe:
    """One thing the check's user tries: what it is, whether a consumer of `invoices` should be
    allowed it, why it must not (if so), and what the broker said (None: allowed)."""

    what: str
    should: bool
    why_not: str
    refused: str | None

    @property
    def allowed(self) -> bool:
        return self.refused is None


def _attempt(connection: pika.BlockingConnection, action: Callable[[BlockingChannel], object]) -> str | None:
    """Run `action` on a fresh channel (RabbitMQ caches granted access per channel); None when
    the broker allowed it, else its reply code and text."""
    channel = connection.channel()
    try:
        action(channel)
    except (pika.exceptions.AMQPError, RuntimeError) as error:
        return describe(error) if isinstance(error, pika.exceptions.AMQPError) else str(error)
    if channel.is_open:
        channel.close()
    return None


def _consume_one(channel: BlockingChannel) -> None:
    """Consume from `invoices` as a worker does, and acknowledge what arrives."""
    got: list[bytes] = []

    def on_message(ch: BlockingChannel, method: Any, _properties: Any, body: bytes) -> None:
        got.append(body)
        ch.basic_ack(method.delivery_tag)

    channel.basic_consume(CONSUMED_QUEUE, on_message)
    deadline = time.monotonic() + CONSUME_SECONDS
    while not got and time.monotonic() < deadline:
        channel.connection.process_data_events(time_limit=0.05)
    if not got:
        raise RuntimeError(
            say(
                "basic_consume was allowed, but no message arrived",
                "basic_consume 得到了允许，但没有收到任何消息",
            )
        )


def _publish(channel: BlockingChannel) -> None:
    channel.confirm_delivery()  # so that a refusal is heard now, not at some later call
    channel.basic_publish("", CONSUMED_QUEUE, b"a forged invoice")


def _read(queue: str) -> Callable[[BlockingChannel], object]:
    return lambda channel: channel.basic_get(queue, auto_ack=False)


#: what the consumer tries, in an order that spoils nothing (reading first, deleting last):
#: (what, should a consumer be allowed it, why not), and how
PROBES_8_1: tuple[tuple[Text, bool, Text, Callable[[BlockingChannel], object]], ...] = (
    (
        Both("check that 'invoices' exists (passive declare)", "检查 'invoices' 是否存在（被动声明）"),
        True,
        "",
        lambda channel: channel.queue_declare(CONSUMED_QUEUE, passive=True),
    ),
    (Both("consume from 'invoices' and ack", "从 'invoices' 消费并确认"), True, "", _consume_one),
    *(
        (Both(f"read '{name}'", f"读取 '{name}'"), False, why, _read(name))
        for name, why in NEIGHBOURS.items()
    ),
    (
        Both("publish to 'invoices' through the default exchange", "通过默认交换机向 'invoices' 发布消息"),
        False,
        Both(
            "write lets it publish (the default exchange is checked as 'amq.default')",
            "write 权限让它能发布消息（默认交换机按 'amq.default' 检查）",
        ),
        _publish,
    ),
    (
        Both("declare a queue of its own ('mine')", "声明自己的队列 'mine'"),
        False,
        Both("configure lets it declare queues", "configure 权限让它能声明队列"),
        lambda channel: channel.queue_declare("mine"),
    ),
    (
        Both("redeclare 'invoices'", "重新声明 'invoices'"),
        False,
        Both(
            "configure lets it declare the queue, with other arguments too",
            "configure 权限让它能声明这个队列，甚至用别的参数声明",
        ),
        lambda channel: channel.queue_declare(CONSUMED_QUEUE, durable=True),
    ),
    (
        Both("delete 'invoices'", "删除 'invoices'"),
        False,
        Both(
            "configure lets it delete the queue, messages and all",
            "configure 权限让它能删除这个队列，连同里面的消息",
        ),
        lambda channel: channel.queue_delete(CONSUMED_QUEUE),
    ),
)


def _probes_8_1(connection: pika.BlockingConnection) -> list[_Probe]:
    """What the user tries, each told in the kernel's language of the moment."""
    return [
        _Probe(str(what), should, str(why), _attempt(connection, action))
        for what, should, why, action in PROBES_8_1
    ]


@dataclass
class _Rights:
    raised: str | None = None
    refused_login: str | None = None
    probes: list[_Probe] = field(default_factory=list)
    permissions: dict[str, tuple[str, str, str]] = field(default_factory=dict)


def _consumer_rights(broker: BrokerHandle, grant: Callable[[str, str], object]) -> tuple[_Rights, str]:
    run = _Rights()
    with _Sandbox(broker, "8.1") as sandbox:
        with sandbox.admin() as admin:
            channel = admin.channel()
            channel.confirm_delivery()
            for name in (CONSUMED_QUEUE, *NEIGHBOURS):
                channel.queue_declare(name, durable=True)
                channel.basic_publish("", name, f"{name} 1".encode())
        run.raised = _run_learner(grant, sandbox.vhost, sandbox.user)
        run.permissions = sandbox.permissions()
        try:
            with sandbox.as_user() as connection:
                run.probes = _probes_8_1(connection)
        except pika.exceptions.AMQPConnectionError as error:
            run.refused_login = _refusal(error)
        return run, sandbox.vhost


@exercise(
    "8.1",
    Both("A consumer's rights, and nothing more", "消费者的权限，一分不多"),
    solution="""def grant_consumer(vhost, user):
    broker.ctl(f"set_permissions -p {vhost} {user} '' '' '^invoices$'")


course.EXERCISES["8.1"](broker, grant_consumer)""",
    explanation=Both(
        "Three regular expressions, for configure, write and read. A consumer only reads: basic.consume "
        "and basic.get need read on the queue, and acknowledging needs nothing more. It declares and "
        "deletes nothing (configure '' matches no name) and publishes nothing (write ''). The read "
        "regex is searched anywhere in the name, so it needs both anchors: '^invoices$'.",
        "三个正则表达式，分别对应 configure、write 和 read。消费者只读：basic.consume 和 basic.get 需要"
        "队列的 read 权限，发送消息确认也不需要别的权限。它不声明也不删除任何东西（configure '' 不匹配"
        "任何名字），也不发布任何消息（write ''）。read 正则会在名字的任意位置搜索匹配，所以两端都要"
        "锚定：'^invoices$'。",
    ),
    hints=(
        Both(
            "Which of configure, write and read does basic.consume need? The other two can be the empty "
            "regex '', which matches nothing.",
            "basic.consume 需要 configure、write、read 中的哪一个？另外两个可以用空正则 ''，它什么也不匹配。",
        ),
        Both(
            "RabbitMQ searches the regex anywhere in a name: 'invoices' also matches 'old.invoices'.",
            "RabbitMQ 会在名字的任意位置搜索正则：'invoices' 也匹配 'old.invoices'。",
        ),
    ),
)
def check_consumer_rights(broker: BrokerHandle, grant: Callable[[str, str], object]) -> Feedback:
    """Make a vhost with the durable queue `invoices` and three neighbours (one message each) and
    a user without permissions; call `grant(vhost, user)`; then, as that user, try what a
    consumer does (must be allowed) and what it must not do (must be refused)."""
    run, vhost = _consumer_rights(broker, grant)
    raised = [say(f"Your function raised {run.raised}", f"你的函数抛出了 {run.raised}")] if run.raised else []
    given = (
        [
            say(
                f"The user's permissions: {_triple(run.permissions[vhost])}.",
                f"该用户的权限：{_triple(run.permissions[vhost])}。",
            )
        ]
        if vhost in run.permissions
        else []
    )
    if run.refused_login is not None:
        elsewhere = [v for v in run.permissions if v != vhost]
        details = [
            say(
                f"Connecting to the vhost as the user answered {run.refused_login}.",
                f"以该用户的身份连接这个虚拟主机，得到的答复是 {run.refused_login}。",
            ),
            *raised,
        ]
        if elsewhere:
            details.append(
                say(
                    f"Its permissions went to vhost {listed(elsewhere)}: set_permissions takes the vhost as "
                    "`-p <vhost>`, and without it means '/'.",
                    f"它的权限被设到了虚拟主机 {listed(elsewhere)}：set_permissions 用 `-p <vhost>` 指定虚拟"
                    "主机，不写就是 '/'。",
                )
            )
        else:
            details.append(
                say(
                    "Without permissions in a vhost a user cannot even open a connection to it (530).",
                    "用户在一个虚拟主机里没有权限，就连到它的连接都打不开（530）。",
                )
            )
        return wrong(say("The user cannot connect to the vhost", "该用户无法连接到这个虚拟主机"), *details)
    missing = [probe for probe in run.probes if probe.should and not probe.allowed]
    extra = [probe for probe in run.probes if not probe.should and probe.allowed]
    if not missing and not extra:
        refused = [(p.what, str(p.refused).partition(" - ")[0]) for p in run.probes if not p.should]
        return right(
            say(
                "Exactly a consumer's rights: it consumes from 'invoices' and can do nothing else",
                "恰好是消费者的权限：它能从 'invoices' 消费，别的什么也做不了",
            ),
            *given,
            say(
                "Refused, as they should be: "
                + "; ".join(f"{what} ({code})" for what, code in refused)
                + ".",
                "这些操作都如预期被拒绝：" + "；".join(f"{what}（{code}）" for what, code in refused) + "。",
            ),
        )
    details = [*given, *raised]
    for probe in missing:
        details.append(
            say(f"It could not {probe.what}: {probe.refused}.", f"它无法{probe.what}：{probe.refused}。")
        )
    for probe in extra:
        details.append(
            say(
                f"It could {probe.what}, which a consumer must not: {probe.why_not}.",
                f"它能够{probe.what}，而消费者不应该能：{probe.why_not}。",
            )
        )
    if missing:
        details.append(
            say(
                "basic.consume and basic.get need read permission on the queue; nothing else.",
                "basic.consume 和 basic.get 只需要队列的 read 权限，别的都不需要。",
            )
        )
    title = and_joined(
        say("it cannot consume", "它无法消费") if missing else "",
        say(
            f"it can do {plural(len(extra), 'thing')} a consumer must not",
            f"它能做 {len(extra)} 件消费者不应该做的事",
        )
        if extra
        else "",
    )
    return wrong(title[0].upper() + title[1:], *details)


# --- exercise 8.2 -----------------------------------------------------------------------------------

TASKS = "tasks"
#: what the new version of the application declares; the old one declared a plain durable queue
TASKS_ARGUMENTS: dict[str, Any] = {"x-queue-type": "quorum"}


def declare_tasks(channel: BlockingChannel) -> None:
    """What the application does when it starts."""
    channel.queue_declare(TASKS, durable=True, arguments=TASKS_ARGUMENTS)


@dataclass
class _Repaired:
    broken: str | None = None  # what the application heard before the repair (the 406)
    raised: str | None = None
    vhost_exists: bool = False
    login: str | None = None  # the 530 or 403 after the repair, if any
    declare: str | None = None  # the application's declare after the repair, if refused
    use: str | None = None  # publishing and getting a message, if that failed
    queue: dict[str, Any] | None = None
    permissions: dict[str, tuple[str, str, str]] = field(default_factory=dict)


def _application(sandbox: _Sandbox, run: _Repaired) -> None:
    """Start the application as the user: declare `tasks`, publish a task, take it back."""
    try:
        with sandbox.as_user() as connection:
            run.declare = _attempt(connection, declare_tasks)
            if run.declare is not None:
                return

            def use(channel: BlockingChannel) -> None:
                channel.confirm_delivery()
                channel.basic_publish("", TASKS, b"resize image 1", pika.BasicProperties(delivery_mode=2))
                method, _properties, _body = channel.basic_get(TASKS, auto_ack=True)
                if method is None:
                    raise RuntimeError(
                        say(
                            "a task published with confirms was not in the queue",
                            "以发布确认方式发布的一个任务不在队列里",
                        )
                    )

            run.use = _attempt(connection, use)
    except pika.exceptions.AMQPConnectionError as error:
        run.login = _refusal(error)


def _recreated(broker: BrokerHandle, fix: Callable[[str, str], object]) -> tuple[_Repaired, str]:
    run = _Repaired()
    with _Sandbox(broker, "8.2") as sandbox:
        sandbox.set_permissions(".*", ".*", ".*")
        with sandbox.admin() as admin:
            admin.channel().queue_declare(TASKS, durable=True)  # the first version's declare
        with sandbox.as_user() as connection:
            run.broken = _attempt(connection, declare_tasks)
        run.raised = _run_learner(fix, sandbox.vhost, sandbox.user)
        run.vhost_exists = sandbox.vhost_exists()
        run.permissions = sandbox.permissions()
        if run.vhost_exists:
            _application(sandbox, run)
            run.queue = sandbox.queue(TASKS)
        return run, sandbox.vhost


_SOLUTION_8_2 = """def fix(vhost, user):
    broker.ctl(f"delete_vhost {vhost}")      # the queue goes with it (check list_queues -p first!)
    broker.ctl(f"add_vhost {vhost}")
    broker.ctl(f"set_permissions -p {vhost} {user} '.*' '.*' '.*'")   # as before: list_permissions


course.EXERCISES["8.2"](broker, fix)"""


@exercise(
    "8.2",
    Both("Repair the durable queue with the wrong arguments", "修复用错了参数的持久化队列"),
    solution=commented(
        _SOLUTION_8_2,
        {
            "the queue goes with it (check list_queues -p first!)": (
                "队列随之删除（先用 list_queues -p 查看！）"
            ),
            "as before: list_permissions": "和原来一样：参照 list_permissions",
        },
    ),
    explanation=Both(
        "A durable queue outlives restarts, and a declare with other arguments never changes it (406). "
        "Deleting its vhost deletes it, with every other queue, exchange, binding, policy and permission "
        "of that vhost: so the vhost is added again and the user's permissions are set again, as "
        "`list_permissions -p <vhost>` showed them before. The application then declares the queue "
        "anew, with its new arguments. (Today `rabbitmqctl delete_queue -p <vhost> tasks` deletes just "
        "the one queue, and the check accepts that too.)",
        "持久化队列能挺过重启，用别的参数再声明也改变不了它（406）。删除它所在的虚拟主机就会删除它，"
        "连同这个虚拟主机里所有其他的队列、交换机、绑定、策略和权限：所以要重新添加虚拟主机，并按之前 "
        "`list_permissions -p <vhost>` 显示的样子重新设置用户的权限。随后应用会用新参数重新声明这个队列。"
        "（如今 `rabbitmqctl delete_queue -p <vhost> tasks` 可以只删除这一个队列，检查也接受这种做法。）",
    ),
    hints=(
        Both(
            "Three commands: delete_vhost, add_vhost, set_permissions (with -p).",
            "三条命令：delete_vhost、add_vhost、set_permissions（带上 -p）。",
        ),
        Both(
            "The application declares the queue itself when it starts: your function only has to make "
            "room for it, and let the user in again.",
            "应用启动时会自己声明队列：你的函数只需要给它腾出位置，再让用户重新进得来。",
        ),
    ),
)
def check_recreated_vhost(broker: BrokerHandle, fix: Callable[[str, str], object]) -> Feedback:
    """Make a vhost where an old version of the application left a plain durable queue `tasks`,
    and a user with full permissions there; show that the new version's declare (a quorum queue)
    is refused; call `fix(vhost, user)`; then start the new version as the user and see whether
    it can declare `tasks`, publish a task and take it back."""
    run, vhost = _recreated(broker, fix)
    raised = [say(f"Your function raised {run.raised}", f"你的函数抛出了 {run.raised}")] if run.raised else []
    before = say(
        f"Before your fix the application heard: {run.broken}.", f"修复之前，应用得到的答复是：{run.broken}。"
    )
    if not run.vhost_exists:
        return wrong(
            say("The vhost is gone", "虚拟主机没了"),
            say(
                f"After your function, vhost {vhost!r} does not exist: a vhost deleted must be added again "
                "(add_vhost) before anyone can connect to it.",
                f"你的函数运行之后，虚拟主机 {vhost!r} 不存在了：删除的虚拟主机必须重新添加（add_vhost），"
                "才能有人连接它。",
            ),
            *raised,
        )
    if run.login is not None:
        hint = (
            say(
                "Deleting a vhost deletes the permissions in it too: set the user's permissions again "
                "(set_permissions -p <vhost> <user> '.*' '.*' '.*').",
                "删除虚拟主机也会删除其中的权限：请重新设置该用户的权限"
                "（set_permissions -p <vhost> <user> '.*' '.*' '.*'）。",
            )
            if "NOT_ALLOWED" in run.login
            else say(
                "The user could not log in at all: did your function delete or change the user? "
                "Only the vhost needed to go.",
                "该用户根本无法登录：你的函数是不是删除或修改了这个用户？需要删除的只有虚拟主机。",
            )
        )
        return wrong(
            say("The application cannot connect", "应用无法连接"),
            say(f"It was answered {run.login}.", f"得到的答复是 {run.login}。"),
            hint,
            *raised,
        )
    if run.declare is not None:
        if "PRECONDITION_FAILED" in run.declare:
            return wrong(
                say("The old queue is still there", "旧队列还在"),
                say(
                    f"The application's declare was answered {run.declare}.",
                    f"应用的声明得到的答复是 {run.declare}。",
                ),
                say(
                    "A durable queue is not changed by a declare with other arguments, nor removed by a "
                    "restart: it must be deleted (with its vhost, by the notes' recipe).",
                    "持久化队列不会因为用别的参数声明而改变，也不会因为重启而消失：必须删除它（按笔记的做法，"
                    "连同它的虚拟主机一起删除）。",
                ),
                *raised,
            )
        return wrong(
            say("The application may not declare its queue", "应用无权声明它的队列"),
            say(f"The declare was answered {run.declare}.", f"声明得到的答复是 {run.declare}。"),
            *(
                [
                    say(
                        f"The user's permissions now: {_triple(run.permissions[vhost])}.",
                        f"该用户现在的权限：{_triple(run.permissions[vhost])}。",
                    )
                ]
                if vhost in run.permissions
                else []
            ),
            say(
                "Set them as they were before: the application declares (configure), publishes (write) and "
                "consumes (read) 'tasks'.",
                "请按原来的样子设置：应用要声明（configure）、发布（write）和消费（read）'tasks'。",
            ),
            *raised,
        )
    if run.use is not None:
        return wrong(
            say("The application declared its queue but cannot use it", "应用声明了队列，却用不了它"),
            say(
                f"Publishing a task and getting it back failed: {run.use}.",
                f"发布一个任务、再把它取回来，失败了：{run.use}。",
            ),
            say(
                "It needs write (to publish through the default exchange) and read (to consume) as well.",
                "它还需要 write 权限（通过默认交换机发布）和 read 权限（消费）。",
            ),
            *raised,
        )
    queue = run.queue or {}
    arguments = queue.get("arguments") or {}
    if queue.get("type") != "quorum" or not queue.get("durable"):
        return wrong(
            say("'tasks' is not the queue the application wants", "'tasks' 不是应用想要的队列"),
            say(
                f"The management API shows it as type {queue.get('type')!r}, "
                f"durable={queue.get('durable')}, arguments {arguments}.",
                f"管理 API 显示它的类型为 {queue.get('type')!r}，durable={queue.get('durable')}，"
                f"参数为 {arguments}。",
            ),
            *raised,
        )
    return right(
        say(
            "The application starts again: 'tasks' is a durable quorum queue, and its user can use it",
            "应用又能启动了：'tasks' 是一个持久化的仲裁队列，它的用户也能使用它",
        ),
        before,
        say(
            f"Now: type {queue.get('type')!r}, durable, arguments {arguments}; the user's permissions: "
            f"{_triple(run.permissions[vhost])}.",
            f"现在：类型 {queue.get('type')!r}，持久化，参数 {arguments}；该用户的权限："
            f"{_triple(run.permissions[vhost])}。",
        ),
        *raised,
    )


# --- exercise 8.3 -----------------------------------------------------------------------------------

ORDERS_LIMIT = 10
EXTRA = 3  # messages published beyond the limit
#: queues declared before the learner's policy, and whether the policy must limit them
BEFORE_8_3 = {"orders.eu": True, "orders.us": True, "orders-archive": False, "archive.orders.2024": False}
#: queues declared after it (a policy applies to queues yet to come too)
AFTER_8_3 = {"orders.asia": True, "payments": False}
#: why a pattern matches a queue it must not
OVERREACH = {
    "orders-archive": Both(
        "'.' in a regex is any character: escape the dot, '^orders\\.'",
        "正则里的 '.' 匹配任意字符：要转义这个点，写成 '^orders\\.'",
    ),
    "archive.orders.2024": Both(
        "without '^' the pattern matches 'orders.' anywhere in a name",
        "没有 '^'，模式会匹配名字里任意位置的 'orders.'",
    ),
    "payments": Both(
        "the pattern matches queues that are not orders at all",
        "模式匹配了根本不是订单队列的队列",
    ),
}
_POLICY_MARK = re.compile("orders", re.IGNORECASE)


@dataclass
class _Limited:
    raised: str | None = None
    policies: list[dict[str, Any]] = field(default_factory=list)  # in the sandbox vhost
    elsewhere: list[str] = field(default_factory=list)  # policies that went to '/', removed again
    kept: dict[str, int] = field(default_factory=dict)  # queue -> messages after publishing
    refused: dict[str, int] = field(default_factory=dict)  # queue -> publishes nacked
    error: str | None = None


def _fill(channel: BlockingChannel, queue: str, run: _Limited) -> None:
    for number in range(ORDERS_LIMIT + EXTRA):
        try:
            channel.basic_publish("", queue, f"order {number + 1}".encode())
        except pika.exceptions.NackError:  # reject-publish: refused, and the publisher knows
            run.refused[queue] = run.refused.get(queue, 0) + 1
    run.kept[queue] = int(channel.queue_declare(queue, passive=True).method.message_count)


def _policies_in(api: ManagementClient, vhost: str) -> list[dict[str, Any]]:
    try:
        found: list[dict[str, Any]] = api.get(_path("policies", vhost))
    except ManagementError:
        return []
    return found


def _limited(broker: BrokerHandle, limit_orders: Callable[[str], object]) -> tuple[_Limited, str]:
    run = _Limited()
    api = _api(broker)
    with _Sandbox(broker, "8.3") as sandbox:
        with sandbox.admin() as admin:
            channel = admin.channel()
            for name in BEFORE_8_3:
                channel.queue_declare(name)
        in_default = {policy["name"] for policy in _policies_in(api, "/")}
        run.raised = _run_learner(limit_orders, sandbox.vhost)
        # a policy set without -p lands in '/', where it would limit other people's queues: undo it
        for policy in _policies_in(api, "/"):
            if policy["name"] not in in_default and _POLICY_MARK.search(policy["name"] + policy["pattern"]):
                run.elsewhere.append(policy["name"])
                with contextlib.suppress(ManagementError):
                    api.request("DELETE", _path("policies", "/", policy["name"]))
        run.policies = _policies_in(api, sandbox.vhost)
        try:
            with sandbox.admin() as admin:
                channel = admin.channel()
                for name in AFTER_8_3:
                    channel.queue_declare(name)
                channel.confirm_delivery()
                for name in (*BEFORE_8_3, *AFTER_8_3):
                    _fill(channel, name, run)
        except pika.exceptions.AMQPError as error:
            run.error = describe(error)
        return run, sandbox.vhost


def _describe_policy(policy: dict[str, Any]) -> str:
    return say(
        f"'{policy['name']}': pattern '{policy['pattern']}', apply-to {policy.get('apply-to')!r}, "
        f"definition {policy.get('definition')}, priority {policy.get('priority')}",
        f"'{policy['name']}'：模式 '{policy['pattern']}'，apply-to {policy.get('apply-to')!r}，"
        f"定义 {policy.get('definition')}，优先级 {policy.get('priority')}",
    )


@exercise(
    "8.3",
    Both("A policy that limits every 'orders.' queue", "限制所有 'orders.' 队列的策略"),
    solution=r"""def limit_orders(vhost):
    definition = '{"max-length": 10}'
    broker.ctl(f"set_policy -p {vhost} --apply-to queues orders-limit '^orders\\.' '{definition}'")


course.EXERCISES["8.3"](broker, limit_orders)""",
    explanation=Both(
        "A policy applies to every queue whose name its pattern matches, those that exist already and "
        "those declared later, without touching the application's code or redeclaring anything. Its "
        "definition uses the argument's name without 'x-' (max-length, message-ttl, "
        "dead-letter-exchange...). The pattern is a regex searched anywhere in the name: '^' anchors "
        "it at the start, and the dot must be escaped ('\\.'), or it matches any character.",
        "策略作用于名字与它的模式相匹配的每一个队列，无论是已经存在的，还是以后才声明的，既不用改应用的"
        "代码，也不用重新声明任何东西。它的定义使用去掉 'x-' 的参数名（max-length、message-ttl、"
        "dead-letter-exchange……）。模式是一个在名字任意位置搜索的正则：'^' 把它锚定在开头，点号必须转义"
        "（'\\.'），否则它匹配任意字符。",
    ),
    hints=(
        Both(
            "rabbitmqctl set_policy -p <vhost> --apply-to queues <name> <pattern> <definition as JSON>",
            "命令格式：rabbitmqctl set_policy -p <vhost> --apply-to queues <名称> <模式> <JSON 格式的定义>",
        ),
        Both(
            "In a policy the key is 'max-length', not 'x-max-length'.",
            "在策略里，键是 'max-length'，不是 'x-max-length'。",
        ),
    ),
)
def check_orders_policy(broker: BrokerHandle, limit_orders: Callable[[str], object]) -> Feedback:
    """Make a vhost with the queues orders.eu, orders.us, orders-archive and
    archive.orders.2024; call `limit_orders(vhost)`; then declare orders.asia and payments, publish
    ORDERS_LIMIT + 3 messages to each (with confirms), and count what each queue keeps."""
    run, vhost = _limited(broker, limit_orders)
    raised = [say(f"Your function raised {run.raised}", f"你的函数抛出了 {run.raised}")] if run.raised else []
    described = [_describe_policy(p) for p in run.policies]
    policies = (
        [
            say(
                f"Policies in the vhost: {'; '.join(described)}.",
                f"虚拟主机里的策略：{'；'.join(described)}。",
            )
        ]
        if run.policies
        else []
    )
    if run.elsewhere:
        return wrong(
            say("The policy went to vhost '/'", "策略被设到了虚拟主机 '/'"),
            say(
                f"Your function set {listed(run.elsewhere)} in '/', not in the vhost it was given (the check "
                "removed it again: in '/' it would limit other people's queues).",
                f"你的函数把 {listed(run.elsewhere)} 设在了 '/'，而不是传给它的那个虚拟主机（检查已经把它删掉"
                "了：留在 '/' 里，它会限制别人的队列）。",
            ),
            say(
                "set_policy takes the vhost as `-p <vhost>`; without it, it means '/'.",
                "set_policy 用 `-p <vhost>` 指定虚拟主机；不写就是 '/'。",
            ),
            *raised,
        )
    if not run.policies:
        return wrong(
            say("set_policy was refused", "set_policy 被拒绝了")
            if run.raised
            else say("There is no policy in the vhost", "虚拟主机里没有策略"),
            say(
                f"list_policies -p {vhost} shows nothing after your function ran.",
                f"你的函数运行之后，list_policies -p {vhost} 什么也没有显示。",
            ),
            *raised,
        )
    if run.error is not None:
        return wrong(
            say("Publishing to the queues failed", "向这些队列发布消息失败了"), run.error, *policies, *raised
        )
    wanted = {**BEFORE_8_3, **AFTER_8_3}
    published = ORDERS_LIMIT + EXTRA
    counts = say("; ", "；").join(
        say(f"{queue}: {run.kept[queue]}", f"{queue}：{run.kept[queue]}") for queue in wanted
    )
    summary = say(
        f"After {published} messages to each queue they hold: {counts}.",
        f"向每个队列发布 {published} 条消息之后，它们各自保留的消息数：{counts}。",
    )
    unlimited = [queue for queue, limit in wanted.items() if limit and run.kept[queue] > ORDERS_LIMIT]
    wrong_size = [queue for queue, limit in wanted.items() if limit and run.kept[queue] < ORDERS_LIMIT]
    overreach = [queue for queue, limit in wanted.items() if not limit and run.kept[queue] < published]
    if not (unlimited or wrong_size or overreach):
        refused = sum(run.refused.values())
        return right(
            say(
                f"Every 'orders.' queue holds at most {ORDERS_LIMIT} messages, and no other queue is limited",
                f"每个 'orders.' 队列最多保留 {ORDERS_LIMIT} 条消息，其他队列都不受限制",
            ),
            summary,
            *policies,
            say(
                "The queues declared before the policy are limited as well as orders.asia, declared after it."
                + (f" (With reject-publish, {refused} publishes were nacked.)" if refused else ""),
                "在策略之前声明的队列，和在它之后声明的 orders.asia 一样，都受到了限制。"
                + (f"（使用 reject-publish 时，有 {refused} 次发布收到了 nack。）" if refused else ""),
            ),
        )
    details = [summary, *policies]
    applies = {policy.get("apply-to") for policy in run.policies}
    if unlimited:
        if applies == {"exchanges"}:
            details.append(
                say(
                    "The policy applies to exchanges only: use --apply-to queues (or all).",
                    "这个策略只作用于交换机：请用 --apply-to queues（或 all）。",
                )
            )
        elif all("max-length" not in (policy.get("definition") or {}) for policy in run.policies):
            details.append(
                say(
                    f'No policy sets max-length: the definition should be {{"max-length": {ORDERS_LIMIT}}}.',
                    f'没有哪个策略设置了 max-length：定义应当是 {{"max-length": {ORDERS_LIMIT}}}。',
                )
            )
        else:
            details.append(
                say(
                    f"Not limited: {listed(unlimited)}: does the pattern match their names?",
                    f"未受限制的有：{listed(unlimited)}。模式匹配得上它们的名字吗？",
                )
            )
    if wrong_size:
        details.append(
            say(
                f"{listed(wrong_size)} hold fewer than {ORDERS_LIMIT}: the limit should be {ORDERS_LIMIT}.",
                f"{listed(wrong_size)} 保留的消息少于 {ORDERS_LIMIT} 条：上限应当是 {ORDERS_LIMIT}。",
            )
        )
    for queue in overreach:
        details.append(
            say(
                f"{queue!r} is limited too, and must not be: {OVERREACH[queue]}.",
                f"{queue!r} 也受到了限制，可它不应该受限：{OVERREACH[queue]}。",
            )
        )
    title = and_joined(
        say(
            f"{plural(len(unlimited), 'orders queue')} not limited",
            f"{len(unlimited)} 个 'orders.' 队列没有受到限制",
        )
        if unlimited
        else "",
        say("limited to the wrong size", "限制的大小不对") if wrong_size and not unlimited else "",
        say(f"{plural(len(overreach), 'other queue')} limited", f"{len(overreach)} 个其他队列受到了限制")
        if overreach
        else "",
    )
    return wrong(title[0].upper() + title[1:], *details)
