"""Chapter 5, topics: the checks of exercises 5.1 (predict where the tutorial's keys go), 5.2
(write binding keys for a log queue) and 5.3 (write a headers binding's arguments).

A verdict comes with reasons a learner can act on: which messages a binding key would miss or
wrongly receive, and why, word by word. Exercise 5.2 asks the broker itself where its test keys
go (a throwaway topic exchange, one exclusive queue per binding key), so the answer is checked
by the same routing the learner is learning; the reasons come from `explain`, a word-by-word
reading of the matching rules (tested against the simulator, which is tested against RabbitMQ).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

import pika
import pika.exceptions

from rabbitsim.backends import BrokerHandle

from ._client import connected, drain, private_name, route
from ._feedback import Both, Feedback, and_joined, commented, exercise, listed, plural, right, say, wrong

__all__ = [
    "INVOICE_MESSAGES",
    "LOG_KEYS",
    "TUTORIAL_BINDINGS",
    "TUTORIAL_KEYS",
    "check_invoice_binding",
    "check_log_bindings",
    "check_predictions",
    "explain",
    "match",
    "matches",
    "route_headers",
    "route_on_broker",
    "tutorial_queues",
    "words",
]

# --- the matching rules, word by word ----------------------------------------------------------


def words(key: str) -> list[str]:
    """A key's words, as RabbitMQ reads them: `''` has none, `'a..b'` has an empty middle one."""
    return key.split(".") if key else []


def match(binding_key: str, routing_key: str) -> list[tuple[str, list[str]]] | None:
    """How `binding_key` lines up with `routing_key`: one (binding word, the key's words it
    takes) pair per binding word, or None when they do not match. `*` takes exactly one word,
    `#` zero or more (the fewest that still let the rest match), any other word itself."""
    pattern, key = words(binding_key), words(routing_key)

    def line_up(p: int, k: int) -> list[tuple[str, list[str]]] | None:
        if p == len(pattern):
            return [] if k == len(key) else None
        word = pattern[p]
        if word == "#":
            for taken in range(len(key) - k + 1):
                rest = line_up(p + 1, k + taken)
                if rest is not None:
                    return [(word, key[k : k + taken]), *rest]
            return None
        if k == len(key) or (word != "*" and word != key[k]):
            return None
        rest = line_up(p + 1, k + 1)
        return None if rest is None else [(word, [key[k]]), *rest]

    return line_up(0, 0)


def matches(binding_key: str, routing_key: str) -> bool:
    return match(binding_key, routing_key) is not None


def _quoted_words(taken: list[str]) -> str:
    return say("no word", "零个词") if not taken else repr(".".join(taken))


def explain(binding_key: str, routing_key: str) -> str:
    """One sentence saying why `binding_key` does or does not match `routing_key`."""
    lined_up = match(binding_key, routing_key)
    if lined_up is not None:
        if not any(word in ("*", "#") for word, _ in lined_up):
            return say(
                f"'{binding_key}' matches '{routing_key}': the same words, as a direct exchange "
                "compares them",
                f"'{binding_key}' 匹配 '{routing_key}'：两者的词完全相同，和直连交换机的比较方式一样",
            )
        parts = say(", ", "，").join(
            f"{word} = {_quoted_words(taken)}" if word in ("*", "#") else repr(word)
            for word, taken in lined_up
        )
        return say(
            f"'{binding_key}' matches '{routing_key}': {parts}",
            f"'{binding_key}' 匹配 '{routing_key}'：{parts}",
        )
    why = _why_not(binding_key, routing_key)
    return say(
        f"'{binding_key}' does not match '{routing_key}': {why}",
        f"'{binding_key}' 不匹配 '{routing_key}'：{why}",
    )


def _why_not(binding_key: str, routing_key: str) -> str:
    pattern, key = words(binding_key), words(routing_key)
    if _glued(binding_key):
        return _literal_note(binding_key)
    if "#" not in pattern:
        if len(pattern) != len(key):
            return say(
                f"without #, it matches only keys of exactly {plural(len(pattern), 'word')} (each * is "
                f"exactly one word), and '{routing_key}' has {plural(len(key), 'word')}",
                f"没有 # 时，它只匹配恰好 {plural(len(pattern), 'word', '个词')}的键（每个 * 恰好是一个词），"
                f"而 '{routing_key}' 有 {plural(len(key), 'word', '个词')}",
            )
        for position, (wanted, found) in enumerate(zip(pattern, key, strict=True), start=1):
            if wanted != "*" and wanted != found:
                return _word_is(say(f"word {position}", f"第 {position} 个词"), found, wanted)
    needed = sum(1 for word in pattern if word != "#")
    if len(key) < needed:
        return say(
            f"it needs at least {plural(needed, 'word')} (# can take none, every other word takes one), "
            f"and '{routing_key}' has {plural(len(key), 'word')}",
            f"它至少需要 {plural(needed, 'word', '个词')}（# 可以一个词也不取，其余每个词各取一个），"
            f"而 '{routing_key}' 只有 {plural(len(key), 'word', '个词')}",
        )
    head = pattern[: pattern.index("#")]
    for position, (wanted, found) in enumerate(zip(head, key, strict=False), start=1):
        if wanted != "*" and wanted != found:
            return _word_is(say(f"word {position}", f"第 {position} 个词"), found, wanted)
    tail = pattern[len(pattern) - pattern[::-1].index("#") :]
    for back, (wanted, found) in enumerate(zip(reversed(tail), reversed(key), strict=False)):
        if wanted != "*" and wanted != found:
            where = (
                say("the last word", "最后一个词")
                if back == 0
                else say(f"word {len(key) - back}", f"第 {len(key) - back} 个词")
            )
            return _word_is(where, found, wanted)
    middle = [word for word in pattern[len(head) : len(pattern) - len(tail)] if word not in ("*", "#")]
    return say(
        f"the words {middle} cannot be found in that order between what # may skip",
        f"在 # 可以跳过的部分之间，找不到按这个顺序出现的词 {middle}",
    )


def _word_is(where: str, found: str, wanted: str) -> str:
    return say(
        f"{where} is '{found}', where the binding wants '{wanted}'",
        f"{where}是 '{found}'，而绑定要求的是 '{wanted}'",
    )


# --- asking the broker -------------------------------------------------------------------------


def route_on_broker(
    broker: BrokerHandle, binding_keys: Iterable[str], routing_keys: Iterable[str]
) -> dict[str, set[str]]:
    """binding key -> the routing keys that reach a queue bound with it, asked of `broker`: a
    throwaway topic exchange, one exclusive queue per binding key, one message per routing key
    (its body is the key; confirmed, so it has been routed before we look)."""
    bindings = {binding_key: [binding_key] for binding_key in binding_keys}
    held = route(broker, "topic", bindings, [(key, key) for key in routing_keys], "5.2")
    return {binding_key: set(bodies) for binding_key, bodies in held.items()}


def _binding_keys(answer: Any) -> list[str] | Feedback:
    """The learner's binding keys as a list of strings, or a verdict saying what to pass."""
    if isinstance(answer, str):
        answer = [answer]
    if not isinstance(answer, list | tuple | set | frozenset):
        return wrong(
            say("Give the binding keys as a list of strings", "请用字符串列表给出绑定键"),
            say(f"got {type(answer).__name__}: {answer!r}", f"收到的是 {type(answer).__name__}：{answer!r}"),
            say(
                'for example: ["kern.*", "*.critical"] (one binding per key, all on the same queue)',
                '例如：["kern.*", "*.critical"]（每个键一个绑定，都绑定到同一个队列）',
            ),
        )
    keys = list(answer)
    for key in keys:
        if not isinstance(key, str):
            return wrong(
                say("Every binding key is a string", "每个绑定键都必须是字符串"),
                say(f"{key!r} is a {type(key).__name__}", f"{key!r} 是 {type(key).__name__}"),
            )
        if " " in key:
            return wrong(
                say(f"'{key}' has a space in it", f"'{key}' 里有空格"),
                say(
                    "receive_logs_topic.py takes each binding key as a separate argument; here, make each "
                    'one a separate string: ["kern.*", "*.critical"]',
                    "receive_logs_topic.py 把每个绑定键当作一个单独的命令行参数；在这里，"
                    '请把每个键写成单独的字符串：["kern.*", "*.critical"]',
                ),
            )
        if len(key.encode()) > 255:
            return wrong(
                say(
                    f"'{key[:20]}…' is {len(key.encode())} bytes long",
                    f"'{key[:20]}…' 有 {len(key.encode())} 字节长",
                ),
                say(
                    "binding keys, like routing keys, are AMQP short strings: at most 255 bytes",
                    "绑定键和路由键一样，都是 AMQP 短字符串：最多 255 字节",
                ),
            )
    if not keys:
        return wrong(
            say(
                "No binding keys: a queue without bindings receives nothing",
                "没有绑定键：没有绑定的队列什么也收不到",
            )
        )
    return keys


# --- exercise 5.1: predict where the tutorial's keys go ---------------------------------------

#: the tutorial's bindings: Q1 wants orange animals, Q2 rabbits and everything lazy
TUTORIAL_BINDINGS: dict[str, tuple[str, ...]] = {"Q1": ("*.orange.*",), "Q2": ("*.*.rabbit", "lazy.#")}

#: the tutorial's routing keys: six that follow `<speed>.<colour>.<species>`, three that do not
TUTORIAL_KEYS: tuple[str, ...] = (
    "quick.orange.rabbit",
    "lazy.orange.elephant",
    "quick.orange.fox",
    "lazy.brown.fox",
    "lazy.pink.rabbit",
    "quick.brown.fox",
    "orange",
    "quick.orange.new.rabbit",
    "lazy.orange.new.rabbit",
)


def tutorial_queues(routing_key: str) -> list[str]:
    """The queues of the tutorial's picture that get `routing_key` (each at most once)."""
    return [
        queue for queue, keys in TUTORIAL_BINDINGS.items() if any(matches(key, routing_key) for key in keys)
    ]


def _said(queues: list[str]) -> str:
    return say(" and ", " 和 ").join(queues) if queues else say("no queue (dropped)", "没有队列（被丢弃）")


def _prediction(value: Any) -> list[str] | None:
    """A prediction as a list of queue names ('Q1'), None while unanswered."""
    if value is None or value is Ellipsis:
        return None
    if isinstance(value, str):
        value = [value] if value.strip() else []
    return [str(queue).strip().upper() for queue in value]


@exercise(
    "5.1",
    Both(
        "Predict which queues get each of the tutorial's routing keys",
        "预测教程里的每个路由键会到达哪些队列",
    ),
    solution=commented(
        """prediction = {
    "quick.orange.rabbit": ["Q1", "Q2"],
    "lazy.orange.elephant": ["Q1", "Q2"],
    "quick.orange.fox": ["Q1"],
    "lazy.brown.fox": ["Q2"],
    "lazy.pink.rabbit": ["Q2"],          # matches both of Q2's bindings, arrives once
    "quick.brown.fox": [],               # matches no binding: dropped
    "orange": [],                        # one word: '*.orange.*' needs exactly three
    "quick.orange.new.rabbit": [],       # four words: no binding takes four
    "lazy.orange.new.rabbit": ["Q2"],    # 'lazy.#': # takes 'orange.new.rabbit'
}
course.EXERCISES["5.1"](prediction)""",
        {
            "matches both of Q2's bindings, arrives once": "匹配 Q2 的两个绑定，但只到达一次",
            "matches no binding: dropped": "不匹配任何绑定：被丢弃",
            "one word: '*.orange.*' needs exactly three": "只有一个词：'*.orange.*' 要求恰好三个",
            "four words: no binding takes four": "四个词：没有哪个绑定能取四个词",
            "'lazy.#': # takes 'orange.new.rabbit'": "'lazy.#'：# 取走了 'orange.new.rabbit'",
        },
    ),
    explanation=Both(
        "`*` takes exactly one word and `#` zero or more, so only `lazy.#` can match a key that "
        "is not three words long; and a queue gets one copy of a message however many of its "
        "bindings match.",
        "`*` 恰好取一个词，`#` 取零个或多个词，所以只有 `lazy.#` 能匹配词数不是三个的键；"
        "而且不管一个队列有几个绑定匹配上，它都只得到这条消息的一份副本。",
    ),
    hints=(
        Both(
            "Line each binding key up with the routing key word by word: a plain word must be equal, "
            "`*` takes exactly one word, `#` any number (also none).",
            "把每个绑定键和路由键逐词对齐：普通的词必须相同，`*` 恰好取一个词，"
            "`#` 取任意多个（也可以一个不取）。",
        ),
        Both(
            "Count the words first: without `#`, a binding only matches keys with as many words as it has.",
            "先数词数：没有 `#` 的绑定，只匹配词数和它一样多的键。",
        ),
    ),
)
def check_predictions(predictions: Mapping[str, Any]) -> Feedback:
    """`predictions` maps each of the tutorial's routing keys to the queues (Q1, Q2) that get it;
    None for the ones not predicted yet."""
    if not isinstance(predictions, Mapping):
        example = '{"quick.orange.rabbit": ["Q1", "Q2"], ...}'
        return wrong(
            say(
                "Give your predictions as a dict: routing key -> list of queues",
                "请用 dict 给出你的预测：路由键 -> 队列列表",
            ),
            say(
                f"got {type(predictions).__name__}; for example {example}",
                f"收到的是 {type(predictions).__name__}；例如 {example}",
            ),
        )
    problems: list[str] = []
    waiting: list[str] = []
    for routing_key in TUTORIAL_KEYS:
        said = _prediction(predictions.get(routing_key))
        if said is None:
            waiting.append(routing_key)
            continue
        truth = tutorial_queues(routing_key)
        reasons: list[str] = []
        unknown = [queue for queue in said if queue not in TUTORIAL_BINDINGS]
        if unknown:
            reasons.append(
                say(
                    f"there is no {unknown[0]}: only Q1 and Q2 are bound to topic_logs",
                    f"没有 {unknown[0]}：绑定到 topic_logs 的只有 Q1 和 Q2",
                )
            )
        for queue in dict.fromkeys(said):
            if queue in TUTORIAL_BINDINGS and said.count(queue) > 1:
                matching = [key for key in TUTORIAL_BINDINGS[queue] if matches(key, routing_key)]
                named = say(", ", "、").join(repr(key) for key in matching) or say(
                    "none here", "这里一个也没有"
                )
                reasons.append(
                    say(
                        f"{queue} gets one copy, not {said.count(queue)}: a queue matched by several "
                        f"bindings ({named}) gets the message once",
                        f"{queue} 只得到一份副本，而不是 {said.count(queue)} 份：即使被多个绑定"
                        f"（{named}）匹配，一个队列也只收到这条消息一次",
                    )
                )
        for queue, keys in TUTORIAL_BINDINGS.items():
            if (queue in said) == (queue in truth):
                continue
            if queue in truth:
                because = say("; ", "；").join(
                    explain(key, routing_key) for key in keys if matches(key, routing_key)
                )
                reasons.append(say(f"{queue} does get it: {because}", f"{queue} 确实会收到：{because}"))
            else:
                because = say("; ", "；").join(explain(key, routing_key) for key in keys)
                reasons.append(say(f"{queue} does not get it: {because}", f"{queue} 收不到：{because}"))
        if reasons:
            said_once = list(dict.fromkeys(said))
            told = _said(said_once)
            problems.append(
                say(
                    f"{routing_key}: you said {told}. " + ". ".join(reasons),
                    f"{routing_key}：你说的是{' ' if said_once else ''}{told}。" + "。".join(reasons),
                )
            )
    extra = [key for key in predictions if key not in TUTORIAL_KEYS]
    notes = [
        say(f"'{key}' is not one of the tutorial's keys (ignored)", f"'{key}' 不是教程里的键（已忽略）")
        for key in extra
    ]
    answered = len(TUTORIAL_KEYS) - len(waiting)
    still = say(
        f"still to predict: {', '.join(waiting)}",
        f"还需要预测：{'、'.join(waiting)}",
    )
    if problems:
        return wrong(
            say(
                f"{len(problems)} of your {answered} predictions are off",
                f"你的 {answered} 个预测里，有 {len(problems)} 个不对",
            ),
            *problems,
            *([still] if waiting else []),
            *notes,
        )
    if waiting:
        return wrong(
            say(
                f"{answered} of {len(TUTORIAL_KEYS)} predicted, all right so far",
                f"{len(TUTORIAL_KEYS)} 个里已经预测了 {answered} 个，目前都对",
            ),
            still,
            say("write [] for a message no queue gets", "没有队列收到的消息，写 []"),
            *notes,
        )
    return right(
        say(
            f"All {len(TUTORIAL_KEYS)} predictions are right",
            f"{len(TUTORIAL_KEYS)} 个预测全部正确",
        ),
        say(
            "lazy.pink.rabbit matches both of Q2's bindings and still arrives once",
            "lazy.pink.rabbit 匹配 Q2 的两个绑定，但仍然只到达一次",
        ),
        say(
            "quick.brown.fox, orange and quick.orange.new.rabbit match nothing: the exchange drops them",
            "quick.brown.fox、orange 和 quick.orange.new.rabbit 什么也匹配不上：交换机把它们丢弃了",
        ),
        explain("lazy.#", "lazy.orange.new.rabbit"),
        *notes,
    )


# --- exercise 5.2: binding keys for a log queue ------------------------------------------------

#: the test messages of 5.2 and whether the queue should get each: every critical message of
#: the kernel (any subsystem) and everything cron logs (any job, any severity)
LOG_KEYS: dict[str, bool] = {
    "kern.critical": True,
    "kern.info": False,
    "kern.disk.critical": True,
    "kern.disk.info": False,
    "cron.info": True,
    "cron.critical": True,
    "cron.backup.error": True,
    "auth.critical": False,
    "mail.disk.critical": False,
    "auth.info": False,
}


def _through(binding_keys: list[str], routing_key: str, reached: Mapping[str, set[str]]) -> list[str]:
    return [key for key in binding_keys if routing_key in reached[key]]


@exercise(
    "5.2",
    Both(
        "Bind a queue to every critical message of the kernel and everything cron logs",
        "绑定一个队列，让它收到内核的每条 critical 消息，以及 cron 记录的所有日志",
    ),
    solution="""my_binding_keys = ["kern.#.critical", "cron.#"]
course.EXERCISES["5.2"](broker, my_binding_keys)""",
    explanation=Both(
        "`kern.#.critical` takes `kern.critical` (# matches zero words: `a.#.b` matches `a.b`) "
        "and `kern.disk.critical` (# matches one); `cron.#` takes every cron key, however many "
        "words follow. `kern.critical` plus `kern.*.critical` and `cron.*` plus `cron.*.*` work "
        "too, for these keys.",
        "`kern.#.critical` 能取到 `kern.critical`（# 匹配零个词：`a.#.b` 能匹配 `a.b`）和 "
        "`kern.disk.critical`（# 匹配一个词）；`cron.#` 能取到每个 cron 键，不管后面跟着多少个词。"
        "就这些键而言，`kern.critical` 加 `kern.*.critical`、`cron.*` 加 `cron.*.*` 也可以。",
    ),
    hints=(
        Both(
            "Kernel keys have two or three words, cron keys too: `*` is exactly one word, so which "
            "wildcard can stand for 'zero or one word'?",
            "内核的键有两个或三个词，cron 的键也一样：`*` 恰好是一个词，那么哪个通配符能代表“零个或一个词”？",
        ),
        Both(
            "A binding key may have `#` in the middle: `a.#.b`.",
            "绑定键的中间也可以出现 `#`：`a.#.b`。",
        ),
    ),
)
def check_log_bindings(broker: Any = None, binding_keys: Any = None) -> Feedback:
    """`binding_keys`: the keys binding one queue to a topic exchange of log messages keyed
    `<facility>.<severity>` or `<facility>.<subsystem>.<severity>`. Routed on `broker`."""
    if not isinstance(broker, BrokerHandle):
        return wrong(
            say("Pass the broker first, then your binding keys", "先传入 broker，再传入你的绑定键"),
            say(
                'course.EXERCISES["5.2"](broker, ["kern.*", "*.critical"]): the check routes the test '
                "messages through a topic exchange on your broker",
                'course.EXERCISES["5.2"](broker, ["kern.*", "*.critical"])：检查程序会在你的消息代理上，'
                "通过一个主题交换机来路由这些测试消息",
            ),
        )
    keys = _binding_keys(binding_keys)
    if isinstance(keys, Feedback):
        return keys
    try:
        reached = route_on_broker(broker, keys, LOG_KEYS)
    except (pika.exceptions.AMQPError, OSError) as error:
        return _could_not_check(error)
    missed = [key for key, wanted in LOG_KEYS.items() if wanted and not _through(keys, key, reached)]
    extra = [key for key, wanted in LOG_KEYS.items() if not wanted and _through(keys, key, reached)]
    shown = ", ".join(repr(key) for key in keys)  # a Python list, in both editions
    if not missed and not extra:
        details = []
        for key in keys:
            taken = sorted(reached[key], key=list(LOG_KEYS).index)
            details.append(
                say(
                    f"'{key}' takes {', '.join(taken) or 'nothing here'}",
                    f"'{key}' 取到了 {'、'.join(taken)}" if taken else f"'{key}' 在这里什么也没取到",
                )
            )
        return right(
            say(
                f"[{shown}] routes all {len(LOG_KEYS)} test messages as asked",
                f"[{shown}] 按要求路由了全部 {len(LOG_KEYS)} 条测试消息",
            ),
            *details,
        )
    lines: list[str] = []
    literal = [key for key in keys if _glued(key)]
    for key in literal:
        lines.append(
            say(
                f"'{key}' matches none of these keys: {_literal_note(key)}",
                f"'{key}' 与这些键一个也不匹配：{_literal_note(key)}",
            )
        )
    for routing_key in missed:
        lines.append(_misses(routing_key, _miss(keys, literal, routing_key)))
    for routing_key in extra:
        through = _through(keys, routing_key, reached)
        lines.append(_wrongly_gets(routing_key, explain(through[0], routing_key)))
    if "#" in keys:
        lines.append(
            say(
                "'#' alone takes every message: with it, a topic exchange acts like a fanout exchange",
                "单独一个 '#' 会取走每条消息：有了它，主题交换机就和扇出交换机一样了",
            )
        )
    if missed and not any("#" in key for key in keys):
        lines.append(
            say(
                "hint: # matches zero or more words, where * matches exactly one",
                "提示：# 匹配零个或多个词，而 * 恰好匹配一个词",
            )
        )
    problems = _problems(missed, extra)
    return wrong(
        say(
            f"[{shown}] {problems} of the {len(LOG_KEYS)} test messages",
            f"{len(LOG_KEYS)} 条测试消息中，[{shown}] {problems}",
        ),
        *lines,
    )


def _problems(missed: list[str], extra: list[str]) -> str:
    """ "misses 2 and wrongly gets 1", the clauses that apply."""
    return and_joined(
        say(f"misses {len(missed)}", f"漏掉了 {len(missed)} 条") if missed else "",
        say(f"wrongly gets {len(extra)}", f"错收了 {len(extra)} 条") if extra else "",
    )


def _misses(message: str, why: str) -> str:
    return say(f"misses {message}: {why}", f"漏掉了{_spaced(message)}：{why}")


def _wrongly_gets(message: str, why: str) -> str:
    return say(f"wrongly gets {message}: {why}", f"错收了{_spaced(message)}：{why}")


def _spaced(name: str) -> str:
    """A name after Chinese text: a space before a Latin one (kern.info), none before a Chinese one."""
    return f" {name}" if name[:1].isascii() else name


def _could_not_check(error: BaseException) -> Feedback:
    return wrong(
        say("The broker could not run the check", "消息代理没能运行这项检查"),
        f"{type(error).__name__}: {error}",
    )


def _glued(binding_key: str) -> bool:
    """A word with * or # in it that is not * or #: a literal word, not a wildcard."""
    return any(word not in ("*", "#") and ("*" in word or "#" in word) for word in words(binding_key))


def _literal_note(binding_key: str) -> str:
    glued = next(
        word for word in words(binding_key) if word not in ("*", "#") and ("*" in word or "#" in word)
    )
    return say(
        f"'{glued}' is not a wildcard but a literal word: * and # only work as whole words between "
        "dots (* stands for a word, not for characters)",
        f"'{glued}' 不是通配符，而是一个普通的词：* 和 # 只有作为点号之间的完整的词才起作用"
        "（* 代表一个词，而不是若干字符）",
    )


def _miss(binding_keys: list[str], literal: list[str], routing_key: str) -> str:
    """Why none of `binding_keys` takes `routing_key`, told for the bindings that could have:
    those starting with the key's first word or a wildcard."""
    first = words(routing_key)[0] if routing_key else ""
    near = [
        key for key in binding_keys if key not in literal and (words(key) or [""])[0] in (first, "*", "#")
    ]
    if not near:
        return say(
            f"no binding starts with '{first}' or a wildcard", f"没有哪个绑定以 '{first}' 或通配符开头"
        )
    return say("; ", "；").join(
        say(f"'{key}': {_why_not(key, routing_key)}", f"'{key}'：{_why_not(key, routing_key)}")
        for key in near
    )


# --- exercise 5.3: arguments for a headers binding --------------------------------------------

#: the header a tenant is named by: it starts with x-, so `all` and `any` do not look at it
TENANT = "x-tenant"
#: the test messages of 5.3 (a label, their headers) and whether acme's invoice queue should get each
INVOICE_MESSAGES: dict[str, tuple[dict[str, Any] | None, bool]] = {
    "acme's invoice": ({"type": "invoice", TENANT: "acme"}, True),
    "acme's invoice, in French": ({"type": "invoice", TENANT: "acme", "lang": "fr"}, True),
    "globex's invoice": ({"type": "invoice", TENANT: "globex"}, False),
    "an invoice of no tenant": ({"type": "invoice"}, False),
    "acme's receipt": ({"type": "receipt", TENANT: "acme"}, False),
    "acme's message without a type": ({TENANT: "acme"}, False),
    "acme's Invoice (capital I)": ({"type": "Invoice", TENANT: "acme"}, False),
    "a message without headers": (None, False),
}
#: what the Chinese edition calls the test messages of 5.3 (their bodies stay as they are)
INVOICE_LABELS_ZH: dict[str, str] = {
    "acme's invoice": "acme 的发票",
    "acme's invoice, in French": "acme 的法语发票",
    "globex's invoice": "globex 的发票",
    "an invoice of no tenant": "不属于任何租户的发票",
    "acme's receipt": "acme 的收据",
    "acme's message without a type": "acme 的一条没有 type 的消息",
    "acme's Invoice (capital I)": "acme 的 Invoice（大写 I）",
    "a message without headers": "一条没有头的消息",
}
X_MATCHES = ("all", "any", "all-with-x", "any-with-x")


def _invoice(label: str) -> str:
    """A test message of 5.3 as the learner's edition names it."""
    return say(label, INVOICE_LABELS_ZH.get(label, label))


def route_headers(broker: BrokerHandle, arguments: Mapping[str, Any]) -> list[str]:
    """The labels of INVOICE_MESSAGES that reach a queue bound with `arguments` to a throwaway
    headers exchange on `broker` (published with confirms, so each has been routed before the
    queue is read). A binding the broker refuses raises its ChannelClosedByBroker."""
    exchange = private_name("5.3")
    with connected(broker, "exercise 5.3") as connection:
        channel = connection.channel()
        channel.exchange_declare(exchange, "headers", auto_delete=True)
        try:
            queue = channel.queue_declare("", exclusive=True).method.queue
            channel.queue_bind(queue, exchange, arguments=dict(arguments))
            channel.confirm_delivery()
            for label, (headers, _wanted) in INVOICE_MESSAGES.items():
                channel.basic_publish(exchange, "", label.encode(), pika.BasicProperties(headers=headers))
            return drain(channel, queue)
        finally:
            if channel.is_open:
                channel.exchange_delete(exchange)
            else:  # the refused bind closed it: the exchange still goes, with the connection's queue
                with contextlib.suppress(pika.exceptions.AMQPError):
                    connection.channel().exchange_delete(exchange)


def _headers_reason(arguments: Mapping[str, Any], headers: dict[str, Any] | None) -> str:
    """Which of the binding's compared headers a message has, lacks, or has with another value."""
    with_x = str(arguments.get("x-match", "all")).endswith("-with-x")
    compared = {k: v for k, v in arguments.items() if k != "x-match" and (with_x or not k.startswith("x-"))}
    given = headers or {}
    if not compared:
        return say("the binding compares no header at all", "这个绑定根本不比较任何头")
    parts = []
    for name, value in compared.items():
        if name not in given:
            parts.append(say(f"it has no {name}", f"它没有 {name}"))
        elif given[name] != value or type(given[name]) is not type(value):
            parts.append(
                say(
                    f"its {name} is {given[name]!r}, not {value!r}",
                    f"它的 {name} 是 {given[name]!r}，而不是 {value!r}",
                )
            )
        else:
            parts.append(say(f"its {name} is {value!r}", f"它的 {name} 是 {value!r}"))
    return say("; ", "；").join(parts)


@exercise(
    "5.3",
    Both(
        "Bind a queue to acme's invoices on a headers exchange",
        "在头交换机上绑定一个队列，让它收到 acme 的发票",
    ),
    solution="""invoice_binding = {"x-match": "all-with-x", "type": "invoice", "x-tenant": "acme"}
course.EXERCISES["5.3"](broker, invoice_binding)""",
    explanation=Both(
        "Both headers must match, so `all`; and the tenant travels in `x-tenant`, a name that "
        "starts with `x-`, which `all` and `any` ignore. `all-with-x` compares it too. With plain "
        "`all` the binding would compare only `type`, and take every tenant's invoices.",
        "两个头都必须匹配，所以用 `all`；但租户放在 `x-tenant` 里，这个名字以 `x-` 开头，"
        "而 `all` 和 `any` 会忽略这样的头。`all-with-x` 会把它也拿来比较。只用 `all` 的话，"
        "绑定只会比较 `type`，结果每个租户的发票都会收下。",
    ),
    hints=(
        Both(
            "Which x-match takes a message only when every header matches, and which one takes it "
            "when one is enough?",
            "哪种 x-match 要求每个头都匹配才收下消息？哪种只要有一个匹配就够了？",
        ),
        Both(
            "Look at the name of the tenant's header: what do `all` and `any` do with names that "
            "start with `x-`?",
            "看看租户那个头的名字：对于以 `x-` 开头的名字，`all` 和 `any` 是怎么处理的？",
        ),
    ),
)
def check_invoice_binding(broker: Any = None, arguments: Any = None) -> Feedback:
    """`arguments`: the binding arguments (x-match and headers) of a queue that must get acme's
    invoices and nothing else. Bound and routed on `broker`."""
    if not isinstance(broker, BrokerHandle):
        return wrong(
            say("Pass the broker first, then your binding's arguments", "先传入 broker，再传入你的绑定参数"),
            say(
                'course.EXERCISES["5.3"](broker, {"x-match": "all", "type": "invoice"}): the check binds a '
                "queue with them to a headers exchange on your broker",
                'course.EXERCISES["5.3"](broker, {"x-match": "all", "type": "invoice"})：检查程序会用这些'
                "参数，把一个队列绑定到你的消息代理上的一个头交换机",
            ),
        )
    if not isinstance(arguments, Mapping) or not all(isinstance(key, str) for key in arguments):
        return wrong(
            say("Give the binding's arguments as a dict", "请用 dict 给出绑定参数"),
            say(
                'for example {"x-match": "any", "type": "invoice"}: header names as keys, the values '
                "to compare as values, and x-match saying how many must match",
                '例如 {"x-match": "any", "type": "invoice"}：头的名字作键，要比较的值作值，'
                "再用 x-match 说明需要匹配几个",
            ),
        )
    try:
        got = route_headers(broker, arguments)
    except pika.exceptions.ChannelClosedByBroker as error:
        return wrong(
            say("The broker refused the binding", "消息代理拒绝了这个绑定"),
            f"{error.reply_code} {error.reply_text}",
            say(
                f"x-match must be one of {listed(X_MATCHES)}, as a string",
                f"x-match 必须是 {listed(X_MATCHES)} 之一，而且是字符串",
            ),
        )
    except (pika.exceptions.AMQPError, OSError) as error:
        return _could_not_check(error)
    missed = [label for label, (_, wanted) in INVOICE_MESSAGES.items() if wanted and label not in got]
    extra = [label for label, (_, wanted) in INVOICE_MESSAGES.items() if not wanted and label in got]
    if not missed and not extra:
        others = len(INVOICE_MESSAGES) - len(got)
        return right(
            say(
                f"Your binding takes acme's {plural(len(got), 'invoice')} and none of the other "
                f"{others} messages",
                f"你的绑定收下了 acme 的 {plural(len(got), 'invoice', '张发票')}，"
                f"其余 {others} 条消息一条也没收",
            ),
            say(
                "the French invoice's extra lang header does not stop it: a binding says what must be "
                "there, not what may not",
                "法语发票多出来的 lang 头不影响匹配：绑定规定的是消息必须有什么，而不是不能有什么",
            ),
        )
    match = str(arguments.get("x-match", "all"))
    lines: list[str] = []
    if match in ("all", "any") and any(key.startswith("x-") and key != "x-match" for key in arguments):
        ignored = [key for key in arguments if key.startswith("x-") and key != "x-match"]
        lines.append(
            say(
                f"with x-match '{match}', headers whose names start with x- are ignored: your "
                f"{listed(ignored)} is not compared at all ('{match}-with-x' would compare it)",
                f"x-match 为 '{match}' 时，名字以 x- 开头的头会被忽略：你的 {listed(ignored)} "
                f"根本没有参与比较（'{match}-with-x' 才会比较它）",
            )
        )
    if "x-match" not in arguments:
        lines.append(
            say("no x-match: the broker takes it as 'all'", "没有 x-match：消息代理会把它当作 'all'")
        )
    if TENANT not in arguments:
        lines.append(
            say(
                f"your binding does not mention {TENANT}: nothing tells one tenant from another",
                f"你的绑定没有提到 {TENANT}：没有任何条件能把不同的租户区分开",
            )
        )
    if match.startswith("any") and extra:
        lines.append(
            say(
                f"'{match}' takes a message as soon as one header matches",
                f"'{match}' 只要有一个头匹配，就会收下消息",
            )
        )
    for label in missed:
        lines.append(_misses(_invoice(label), _headers_reason(arguments, INVOICE_MESSAGES[label][0])))
    for label in extra:
        lines.append(_wrongly_gets(_invoice(label), _headers_reason(arguments, INVOICE_MESSAGES[label][0])))
    problems = _problems(missed, extra)
    return wrong(
        say(
            f"Your binding {problems} of the {len(INVOICE_MESSAGES)} test messages",
            f"{len(INVOICE_MESSAGES)} 条测试消息中，你的绑定{problems}",
        ),
        *lines,
    )
