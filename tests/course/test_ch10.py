"""Chapter 10's exercise checks and sliders. The checks run their scenarios in the lab (virtual
time on the simulator's core, no broker), so they are the same on every backend: each accepts
its published solution, and explains the usual wrong answers (too few workers, too many; a
prefetch too small, too large, unlimited; no limit, a silent drop-head, a limit too short, an
argument the broker refuses) with the figures it measured. The sliders re-run their scenario
when a slider moves."""

from __future__ import annotations

from rabbitsim import course
from rabbitsim.course import _ch10_capacity as capacity

from .solutions import run_solution
from .zh import in_chinese, is_chinese


def text(feedback: course.Feedback) -> str:
    return str(feedback)


# --- 10.1 ------------------------------------------------------------------------------------------


def test_10_1_accepts_its_solution() -> None:
    feedback = run_solution("10.1")
    assert feedback, text(feedback)
    assert feedback.title == "8 workers keep the p95 wait under 0.25 s, and no fewer do"
    assert "7 workers: p95 wait 0.628 s" in text(feedback)  # the neighbour it measured


def test_10_1_keeping_up_is_not_enough() -> None:
    feedback = course.EXERCISES["10.1"](7)
    assert not feedback
    assert feedback.title == "With 7 workers the p95 wait is 0.628 s, over 0.25 s"
    assert "They keep up, but at 94% of what they can do" in text(feedback)


def test_10_1_too_few_to_keep_up_says_the_queue_grows() -> None:
    feedback = course.EXERCISES["10.1"](6)
    assert not feedback
    assert "at most 54.5 messages a second" in text(feedback)
    assert "the queue grows for as long as the load lasts" in text(feedback)


def test_10_1_too_many_says_fewer_do() -> None:
    feedback = course.EXERCISES["10.1"](10)
    assert not feedback
    assert feedback.title == "9 workers already keep the p95 wait under 0.25 s"
    assert "Each extra worker costs" in text(feedback)


def test_10_1_far_too_many_is_refused_without_a_run() -> None:
    feedback = course.EXERCISES["10.1"](1000)
    assert not feedback
    assert feedback.title == "1000 workers for 60 messages a second is far too many"


def test_10_1_refuses_what_is_not_a_number_of_workers() -> None:
    for answer in (0, 7.5, "8", True):
        feedback = course.EXERCISES["10.1"](answer)
        assert not feedback
        assert "is not a number of workers" in feedback.title


# --- 10.2 ------------------------------------------------------------------------------------------


def test_10_2_accepts_its_solution() -> None:
    feedback = run_solution("10.2")
    assert feedback, text(feedback)
    assert feedback.title == "Prefetch 8 keeps the worker 94% busy; 7 would leave it at 82%"
    assert "the arithmetic: 94.1%" in text(feedback)


def test_10_2_prefetch_1_waits_for_the_network() -> None:
    feedback = course.EXERCISES["10.2"](1)
    assert not feedback
    assert feedback.title == "At prefetch 1 the worker is only 12% busy"
    assert "Each message spends 68 ms between the broker sending it" in text(feedback)


def test_10_2_just_too_small() -> None:
    feedback = course.EXERCISES["10.2"](7)
    assert not feedback
    assert feedback.title == "At prefetch 7 the worker is only 82% busy"


def test_10_2_more_than_needed_is_refused() -> None:
    feedback = course.EXERCISES["10.2"](26)
    assert not feedback
    assert feedback.title == "Prefetch 25 already keeps the worker 100% busy"
    assert "instead of going to an idle one" in text(feedback)


def test_10_2_unlimited_is_explained() -> None:
    feedback = course.EXERCISES["10.2"](0)
    assert not feedback
    assert feedback.title.startswith("Prefetch 0 means no limit")


# --- 10.3 ------------------------------------------------------------------------------------------


def test_10_3_accepts_its_solution() -> None:
    feedback = run_solution("10.3")
    assert feedback, text(feedback)
    assert "804 of 2400 messages done, 1596 refused (nacked to the publisher), 0 dropped" in text(feedback)
    assert "The longest limit that keeps every wait within 2 s is 132: it refuses 1584." in text(feedback)


def test_10_3_accepts_a_slightly_shorter_limit_and_reject_publish_dlx() -> None:
    assert course.EXERCISES["10.3"]({"x-max-length": 125, "x-overflow": "reject-publish"})
    assert course.EXERCISES["10.3"]({"x-max-length": 132, "x-overflow": "reject-publish-dlx"})


def test_10_3_no_limit_lets_the_wait_grow() -> None:
    feedback = course.EXERCISES["10.3"]({})
    assert not feedback
    assert feedback.title == "A message waited 5.94 s in the queue, over 2 s"


def test_10_3_a_limit_too_long_waits_too_long() -> None:
    feedback = course.EXERCISES["10.3"]({"x-max-length": 140, "x-overflow": "reject-publish"})
    assert not feedback
    assert feedback.title == "A message waited 2.10 s in the queue, over 2 s"


def test_10_3_drop_head_drops_silently() -> None:
    feedback = course.EXERCISES["10.3"]({"x-max-length": 130})
    assert not feedback
    assert feedback.title == "1596 messages were dropped without the publisher knowing"
    assert "drop-head (the default) discards the oldest" in text(feedback)


def test_10_3_a_limit_too_short_refuses_too_many() -> None:
    feedback = course.EXERCISES["10.3"]({"x-max-length": 50, "x-overflow": "reject-publish"})
    assert not feedback
    assert feedback.title == "2076 messages were refused; the wait allows far fewer"


def test_10_3_bytes_of_empty_bodies_limit_nothing() -> None:
    feedback = course.EXERCISES["10.3"]({"x-max-length-bytes": 10_000, "x-overflow": "reject-publish"})
    assert not feedback
    assert "these messages have empty bodies" in text(feedback)


def test_10_3_the_brokers_refusal_is_quoted() -> None:
    feedback = course.EXERCISES["10.3"]({"x-max-length": 100, "x-overflow": "reject"})
    assert not feedback
    assert feedback.title == "The queue could not be declared with these arguments"
    assert "invalid arg 'x-overflow'" in text(feedback)
    assert not course.EXERCISES["10.3"]([("x-max-length", 100)])


# --- the sliders -----------------------------------------------------------------------------------


def test_the_sliders_rerun_when_a_slider_moves() -> None:
    lab = capacity.sliders(rate=40, workers=4, service_ms=100, round_trip_ms=10, seconds=60)
    first, picture = lab.result, bytes(lab.picture.value)
    assert lab.runs == 1
    assert first.queues["task_queue"]["ready"] > 100  # 4 workers manage about 36 a second
    assert "overloaded" in lab.summary.value
    assert picture.startswith(b"\x89PNG")
    lab.workers.value = 6
    assert lab.runs == 2
    assert lab.result.queues["task_queue"]["ready"] < 10
    assert "overloaded" not in lab.summary.value
    assert bytes(lab.picture.value) != picture
    lab.prefetch.value = 5
    lab.round_trip_ms.value = 100
    lab.rate.value = 20
    lab.service_ms.value = 50
    assert lab.runs == 6
    assert 1000 < lab.result.published < 1400  # 20 a second for 60 s, where 4 workers had 40
    assert lab.result.utilisation < 0.2  # 20 x 50 ms over 6 workers: a sixth of their time
    # each worker: 1 / 50 ms = 20 a second, which prefetch 5 per 150 ms cycle (33 a second) allows
    assert "about 120.0 messages/s against 20 arriving" in lab.summary.value


def test_the_sliders_render_headless() -> None:
    lab = capacity.sliders(seconds=10)
    bundle = lab._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert len(lab.widget.children) == 7  # five sliders, the summary, the picture


# --- the Chinese edition ---------------------------------------------------------------------------


def test_10_1_speaks_chinese() -> None:
    with in_chinese():
        feedback = course.EXERCISES["10.1"](7)
        assert not feedback and is_chinese(text(feedback))
        assert feedback.title == "7 个 worker 时，p95 等待为 0.628 秒，超过了 0.25 秒"
        assert "它们跟得上，但用掉了自身能力的 94%" in text(feedback)
        assert course.EXERCISES["10.1"]("8").title == "'8' 不是 worker 的数量"
        accepted = run_solution("10.1")
        assert accepted and is_chinese(text(accepted))
        assert accepted.title == "8 个 worker 能让 p95 等待低于 0.25 秒，再少就不行"


def test_10_2_speaks_chinese() -> None:
    with in_chinese():
        feedback = course.EXERCISES["10.2"](1)
        assert not feedback and is_chinese(text(feedback))
        assert feedback.title == "预取为 1 时，worker 的忙碌时间只占 12%"
        assert "每条消息从 broker 发出，到 broker 收到它的确认，要花 68 ms" in text(feedback)
        assert course.EXERCISES["10.2"](0).title.startswith("预取为 0 表示不限制")
        accepted = run_solution("10.2")
        assert accepted and is_chinese(text(accepted))
        assert accepted.title == "预取为 8 时，worker 的忙碌时间占 94%；换成 7，就只有 82%"


def test_10_3_speaks_chinese() -> None:
    with in_chinese():
        feedback = course.EXERCISES["10.3"]({"x-max-length": 130})
        assert not feedback and is_chinese(text(feedback))
        assert feedback.title == "1596 条消息在生产者不知情的情况下被丢弃了"
        assert "x-overflow 取默认值 drop-head 时，队列满了就会丢弃最旧的消息" in text(feedback)
        assert course.EXERCISES["10.3"]([1]).title == "请用 dict 给出队列的参数，而不是 list"
        accepted = run_solution("10.3")
        assert accepted and is_chinese(text(accepted))
        assert "能让每次等待都不超过 2 秒的最长上限是 132：它会拒绝 1584 条消息。" in text(accepted)


def test_the_sliders_speak_chinese() -> None:
    with in_chinese():
        lab = capacity.sliders(rate=40, workers=4, seconds=20)
        assert is_chinese(lab.summary.value) and "（<b>过载</b>：队列在增长）。" in lab.summary.value
        assert [slider.description for slider in lab.widget.children[:2]] == ["每秒到达数", "worker 数"]
    assert "overloaded" in capacity.sliders(rate=40, workers=4, seconds=20).summary.value
