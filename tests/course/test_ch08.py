"""Chapter 8's exercise checks, on the simulator: a consumer's exact rights (8.1), the study notes'
delete-the-vhost recipe for a durable queue with the wrong arguments (8.2), and a policy that
limits the 'orders.' queues (8.3). Each check accepts its published solution and explains the
usual wrong answers in their own terms, and leaves no vhost, user or policy behind."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator

import pytest

import rabbitsim
from rabbitsim import course
from rabbitsim.backends import BrokerHandle, ManagementClient

from .solutions import run_solution
from .zh import in_chinese, is_chinese


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerHandle]:
    with rabbitsim.start("sim") as handle:
        yield handle


@pytest.fixture(autouse=True)
def leaves_nothing_behind(broker: BrokerHandle) -> Iterator[None]:
    yield
    assert broker.management_url is not None
    api = ManagementClient(broker.management_url)
    assert [vhost["name"] for vhost in api.get("vhosts")] == ["/"]
    assert [user["name"] for user in api.get("users")] == ["guest"]
    assert api.get("policies") == []


def text(feedback: course.Feedback) -> str:
    return str(feedback)


# --- 8.1 -------------------------------------------------------------------------------------------


def granting(
    broker: BrokerHandle, configure: str, write: str, read: str, *, vhost_option: bool = True
) -> Callable[[str, str], None]:
    def grant(vhost: str, user: str) -> None:
        where = ["-p", vhost] if vhost_option else []
        broker.ctl(shlex.join(["set_permissions", *where, user, configure, write, read]))

    return grant


def test_8_1_accepts_its_solution(broker: BrokerHandle) -> None:
    feedback = run_solution("8.1", broker=broker)
    assert feedback, text(feedback)
    assert "read '^invoices$'" in text(feedback)
    assert "delete 'invoices' (403 ACCESS_REFUSED)" in text(feedback)


def test_8_1_lists_everything_full_permissions_allow(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.1"](broker, granting(broker, ".*", ".*", ".*"))
    assert not feedback
    assert feedback.title == "It can do 7 things a consumer must not"
    for allowed in (
        "read 'payroll'",
        "publish to 'invoices'",
        "declare a queue of its own",
        "delete 'invoices'",
    ):
        assert f"It could {allowed}" in text(feedback)


def test_8_1_explains_a_regex_without_anchors(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.1"](broker, granting(broker, "", "", "invoices"))
    assert not feedback
    assert feedback.title == "It can do 2 things a consumer must not"
    assert "read 'invoices.archive'" in text(feedback) and "has no `$`" in text(feedback)
    assert "read 'old.invoices'" in text(feedback) and "has no `^`" in text(feedback)


def test_8_1_configure_lets_it_delete_the_queue(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.1"](broker, granting(broker, "^invoices$", "", "^invoices$"))
    assert not feedback
    assert "It could delete 'invoices'" in text(feedback)
    assert "It could read" not in text(feedback)


def test_8_1_no_read_permission_cannot_consume(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.1"](broker, granting(broker, "", "", ""))
    assert not feedback
    assert feedback.title == "It cannot consume"
    assert "403 ACCESS_REFUSED - read access to queue 'invoices'" in text(feedback)


def test_8_1_permissions_in_the_wrong_vhost(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.1"](broker, granting(broker, "", "", "^invoices$", vhost_option=False))
    assert not feedback
    assert feedback.title == "The user cannot connect to the vhost"
    assert "530 NOT_ALLOWED - access to vhost" in text(feedback)
    assert "Its permissions went to vhost '/'" in text(feedback)


def test_8_1_reports_a_failing_command(broker: BrokerHandle) -> None:
    def typo(vhost: str, user: str) -> None:
        broker.ctl(f"set_permission -p {vhost} {user} '' '' '^invoices$'")

    feedback = course.EXERCISES["8.1"](broker, typo)
    assert not feedback
    assert "Your function raised CtlError: Command 'set_permission' not found." in text(feedback)


# --- 8.2 -------------------------------------------------------------------------------------------


def test_8_2_accepts_the_notes_recipe(broker: BrokerHandle) -> None:
    feedback = run_solution("8.2", broker=broker)
    assert feedback, text(feedback)
    assert "inequivalent arg 'x-queue-type' for queue 'tasks'" in text(feedback)  # before the fix
    assert "type 'quorum', durable" in text(feedback)


def test_8_2_accepts_deleting_just_the_queue(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.2"](
        broker, lambda vhost, user: broker.ctl(f"delete_queue -p {vhost} tasks")
    )
    assert feedback, text(feedback)


def test_8_2_doing_nothing_leaves_the_old_queue(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.2"](broker, lambda vhost, user: None)
    assert not feedback
    assert feedback.title == "The old queue is still there"
    assert "406 PRECONDITION_FAILED" in text(feedback)


def test_8_2_notebooks_start_deletes_the_vhost_only(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.2"](broker, lambda vhost, user: broker.ctl(f"delete_vhost {vhost}"))
    assert not feedback
    assert feedback.title == "The vhost is gone"
    assert "add_vhost" in text(feedback)


def test_8_2_forgotten_permissions(broker: BrokerHandle) -> None:
    def recreate(vhost: str, user: str) -> None:
        broker.ctl(f"delete_vhost {vhost}")
        broker.ctl(f"add_vhost {vhost}")

    feedback = course.EXERCISES["8.2"](broker, recreate)
    assert not feedback
    assert feedback.title == "The application cannot connect"
    assert "530 NOT_ALLOWED - access to vhost" in text(feedback)
    assert "set the user's permissions again" in text(feedback)


def test_8_2_too_narrow_permissions(broker: BrokerHandle) -> None:
    def recreate(vhost: str, user: str) -> None:
        broker.ctl(f"delete_vhost {vhost}")
        broker.ctl(f"add_vhost {vhost}")
        broker.ctl(f"set_permissions -p {vhost} {user} '' '.*' '.*'")

    feedback = course.EXERCISES["8.2"](broker, recreate)
    assert not feedback
    assert feedback.title == "The application may not declare its queue"
    assert "configure '', write '.*', read '.*'" in text(feedback)


def test_8_2_deleting_the_user_too(broker: BrokerHandle) -> None:
    def recreate(vhost: str, user: str) -> None:
        broker.ctl(f"delete_vhost {vhost}")
        broker.ctl(f"delete_user {user}")
        broker.ctl(f"add_vhost {vhost}")

    feedback = course.EXERCISES["8.2"](broker, recreate)
    assert not feedback
    assert "403 ACCESS_REFUSED - Login was refused" in text(feedback)
    assert "did your function delete or change the user?" in text(feedback)


# --- 8.3 -------------------------------------------------------------------------------------------


def policy(
    broker: BrokerHandle, pattern: str, definition: str = '{"max-length": 10}', *options: str
) -> Callable[[str], None]:
    def limit_orders(vhost: str) -> None:
        where = [] if "no -p" in options else ["-p", vhost]
        apply_to = [option for option in options if option != "no -p"] or ["--apply-to", "queues"]
        broker.ctl(shlex.join(["set_policy", *where, *apply_to, "orders-limit", pattern, definition]))

    return limit_orders


def test_8_3_accepts_its_solution(broker: BrokerHandle) -> None:
    feedback = run_solution("8.3", broker=broker)
    assert feedback, text(feedback)
    assert (
        "orders.eu: 10; orders.us: 10; orders-archive: 13; archive.orders.2024: 13; orders.asia: 10"
        in text(feedback)
    )


def test_8_3_accepts_reject_publish(broker: BrokerHandle) -> None:
    definition = '{"max-length": 10, "overflow": "reject-publish"}'
    feedback = course.EXERCISES["8.3"](broker, policy(broker, r"^orders\.", definition))
    assert feedback, text(feedback)
    assert "9 publishes were nacked" in text(feedback)


def test_8_3_the_notebooks_start_limits_two_other_queues(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.3"](
        broker, policy(broker, "orders", '{"max-length": 10}', "--apply-to", "all")
    )
    assert not feedback
    assert feedback.title == "2 other queues limited"
    assert "escape the dot" in text(feedback)
    assert "without '^'" in text(feedback)


@pytest.mark.parametrize(
    ("pattern", "overreach", "why"),
    [(r"^orders.", "orders-archive", "escape the dot"), (r"orders\.", "archive.orders.2024", "without '^'")],
)
def test_8_3_explains_each_pattern_mistake(
    broker: BrokerHandle, pattern: str, overreach: str, why: str
) -> None:
    feedback = course.EXERCISES["8.3"](broker, policy(broker, pattern))
    assert not feedback
    assert feedback.title == "1 other queue limited"
    assert f"'{overreach}' is limited too" in text(feedback) and why in text(feedback)


def test_8_3_a_policy_for_exchanges_limits_no_queue(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.3"](
        broker, policy(broker, r"^orders\.", '{"max-length": 10}', "--apply-to", "exchanges")
    )
    assert not feedback
    assert feedback.title == "3 orders queues not limited"
    assert "use --apply-to queues" in text(feedback)


def test_8_3_the_argument_name_is_not_a_policy_key(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.3"](broker, policy(broker, r"^orders\.", '{"x-max-length": 10}'))
    assert not feedback
    assert feedback.title == "set_policy was refused"
    assert "are not recognised policy settings" in text(feedback)


def test_8_3_the_wrong_limit(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.3"](broker, policy(broker, r"^orders\.", '{"max-length": 5}'))
    assert not feedback
    assert feedback.title == "Limited to the wrong size"
    assert "orders.eu: 5" in text(feedback)


def test_8_3_a_policy_in_the_default_vhost_is_removed_and_explained(broker: BrokerHandle) -> None:
    feedback = course.EXERCISES["8.3"](broker, policy(broker, r"^orders\.", '{"max-length": 10}', "no -p"))
    assert not feedback
    assert feedback.title == "The policy went to vhost '/'"
    assert "-p <vhost>" in text(feedback)  # and the autouse fixture sees no policy left in '/'


# --- the Chinese edition ---------------------------------------------------------------------------


def test_8_1_speaks_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        feedback = course.EXERCISES["8.1"](broker, granting(broker, "", "", "invoices"))
        assert not feedback and is_chinese(text(feedback))
        assert feedback.title == "它能做 2 件消费者不应该做的事"
        assert "它能够读取 'old.invoices'，而消费者不应该能：read 正则没有 `^`" in text(feedback)
        assert "该用户的权限：configure ''、write ''、read 'invoices'。" in text(feedback)
        elsewhere = course.EXERCISES["8.1"](
            broker, granting(broker, "", "", "^invoices$", vhost_option=False)
        )
        assert elsewhere.title == "该用户无法连接到这个虚拟主机" and "530 NOT_ALLOWED" in text(elsewhere)
        assert "它的权限被设到了虚拟主机 '/'" in text(elsewhere) and is_chinese(text(elsewhere))
        accepted = run_solution("8.1", broker=broker)
        assert accepted and is_chinese(text(accepted))
        assert "删除 'invoices'（403 ACCESS_REFUSED）" in text(accepted)


def test_8_2_speaks_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        feedback = course.EXERCISES["8.2"](broker, lambda vhost, user: None)
        assert not feedback and is_chinese(text(feedback))
        assert feedback.title == "旧队列还在"
        assert "应用的声明得到的答复是 406 PRECONDITION_FAILED" in text(feedback)
        gone = course.EXERCISES["8.2"](broker, lambda vhost, user: broker.ctl(f"delete_vhost {vhost}"))
        assert gone.title == "虚拟主机没了" and "add_vhost" in text(gone) and is_chinese(text(gone))
        accepted = run_solution("8.2", broker=broker)
        assert accepted and is_chinese(text(accepted))
        assert accepted.title.startswith("应用又能启动了")


def test_8_3_speaks_chinese(broker: BrokerHandle) -> None:
    with in_chinese():
        feedback = course.EXERCISES["8.3"](broker, policy(broker, r"^orders."))
        assert not feedback and is_chinese(text(feedback))
        assert feedback.title == "1 个其他队列受到了限制"
        assert "'orders-archive' 也受到了限制，可它不应该受限：正则里的 '.' 匹配任意字符" in text(feedback)
        assert "orders.eu：10；orders.us：10；" in text(feedback)
        exchanges = course.EXERCISES["8.3"](
            broker, policy(broker, r"^orders\.", '{"max-length": 10}', "--apply-to", "exchanges")
        )
        assert exchanges.title == "3 个 'orders.' 队列没有受到限制" and is_chinese(text(exchanges))
        assert course.EXERCISES["8.3"](broker, policy(broker, r"^orders\.", '{"max-length": 5}')).title == (
            "限制的大小不对"
        )
        accepted = run_solution("8.3", broker=broker)
        assert accepted and is_chinese(text(accepted))
        assert accepted.title == "每个 'orders.' 队列最多保留 10 条消息，其他队列都不受限制"
