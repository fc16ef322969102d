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
from ._feedback import Feedback, and_joined, exercise, listed, plural, right, wrong

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
    return "no word" if not taken else repr(".".join(taken))


def explain(binding_key: str, routing_key: str) -> str:
    """One sentence saying why `binding_key` does or does not match `routing_key`."""
    lined_up = match(binding_key, routing_key)
    if lined_up is not None:
        if not any(word in ("*", "#") for word, _ in lined_up):
            return (
                f"'{binding_key}' matches '{routing_key}': the same words, as a direct exchange compares them"
            )
        parts = [
            f"{word} = {_quoted_words(taken)}" if word in ("*", "#") else repr(word)
            for word, taken in lined_up
        ]
        return f"'{binding_key}' matches '{routing_key}': {', '.join(parts)}"
    return f"'{binding_key}' does not match '{routing_key}': {_why_not(binding_key, routing_key)}"


def _why_not(binding_key: str, routing_key: str) -> str:
    pattern, key = words(binding_key), words(routing_key)
    if _glued(binding_key):
        return _literal_note(binding_key)
    if "#" not in pattern:
        if len(pattern) != len(key):
            return (
                f"without #, it matches only keys of exactly {plural(len(pattern), 'word')} (each * is "
                f"exactly one word), and '{routing_key}' has {plural(len(key), 'word')}"
            )
        for position, (wanted, found) in enumerate(zip(pattern, key, strict=True), start=1):
            if wanted != "*" and wanted != found:
                return f"word {position} is '{found}', where the binding wants '{wanted}'"
    needed = sum(1 for word in pattern if word != "#")
    if len(key) < needed:
        return (
            f"it needs at least {plural(needed, 'word')} (# can take none, every other word takes one), "
            f"and '{routing_key}' has {plural(len(key), 'word')}"
        )
    head = pattern[: pattern.index("#")]
    for position, (wanted, found) in enumerate(zip(head, key, strict=False), start=1):
        if wanted != "*" and wanted != found:
            return f"word {position} is '{found}', where the binding wants '{wanted}'"
    tail = pattern[len(pattern) - pattern[::-1].index("#") :]
    for back, (wanted, found) in enumerate(zip(reversed(tail), reversed(key), strict=False)):
        if wanted != "*" and wanted != found:
            where = "the last word" if back == 0 else f"word {len(key) - back}"
            return f"{where} is '{found}', where the binding wants '{wanted}'"
    middle = [word for word in pattern[len(head) : len(pattern) - len(tail)] if word not in ("*", "#")]
    return f"the words {middle} cannot be found in that order between what # may skip"


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
            "Give the binding keys as a list of strings",
            f"got {type(answer).__name__}: {answer!r}",
            'for example: ["kern.*", "*.critical"] (one binding per key, all on the same queue)',
        )
    keys = list(answer)
    for key in keys:
        if not isinstance(key, str):
            return wrong("Every binding key is a string", f"{key!r} is a {type(key).__name__}")
        if " " in key:
            return wrong(
                f"'{key}' has a space in it",
                "receive_logs_topic.py takes each binding key as a separate argument; here, make each "
                'one a separate string: ["kern.*", "*.critical"]',
            )
        if len(key.encode()) > 255:
            return wrong(
                f"'{key[:20]}…' is {len(key.encode())} bytes long",
                "binding keys, like routing keys, are AMQP short strings: at most 255 bytes",
            )
    if not keys:
        return wrong("No binding keys: a queue without bindings receives nothing")
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
    return " and ".join(queues) if queues else "no queue (dropped)"


def _prediction(value: Any) -> list[str] | None:
    """A prediction as a list of queue names ('Q1'), None while unanswered."""
    if value is None or value is Ellipsis:
        return None
    if isinstance(value, str):
        value = [value] if value.strip() else []
    return [str(queue).strip().upper() for queue in value]


@exercise(
    "5.1",
    "Predict which queues get each of the tutorial's routing keys",
    solution="""prediction = {
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
    explanation=(
        "`*` takes exactly one word and `#` zero or more, so only `lazy.#` can match a key that "
        "is not three words long; and a queue gets one copy of a message however many of its "
        "bindings match."
    ),
    hints=(
        "Line each binding key up with the routing key word by word: a plain word must be equal, "
        "`*` takes exactly one word, `#` any number (also none).",
        "Count the words first: without `#`, a binding only matches keys with as many words as it has.",
    ),
)
def check_predictions(predictions: Mapping[str, Any]) -> Feedback:
    """`predictions` maps each of the tutorial's routing keys to the queues (Q1, Q2) that get it;
    None for the ones not predicted yet."""
    if not isinstance(predictions, Mapping):
        return wrong(
            "Give your predictions as a dict: routing key -> list of queues",
            f'got {type(predictions).__name__}; for example {{"quick.orange.rabbit": ["Q1", "Q2"], ...}}',
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
            reasons.append(f"there is no {unknown[0]}: only Q1 and Q2 are bound to topic_logs")
        for queue in dict.fromkeys(said):
            if queue in TUTORIAL_BINDINGS and said.count(queue) > 1:
                matching = [key for key in TUTORIAL_BINDINGS[queue] if matches(key, routing_key)]
                reasons.append(
                    f"{queue} gets one copy, not {said.count(queue)}: a queue matched by several "
                    f"bindings ({', '.join(repr(key) for key in matching) or 'none here'}) gets the "
                    "message once"
                )
        for queue, keys in TUTORIAL_BINDINGS.items():
            if (queue in said) == (queue in truth):
                continue
            if queue in truth:
                because = [explain(key, routing_key) for key in keys if matches(key, routing_key)]
                reasons.append(f"{queue} does get it: " + "; ".join(because))
            else:
                reasons.append(
                    f"{queue} does not get it: " + "; ".join(explain(key, routing_key) for key in keys)
                )
        if reasons:
            said_once = list(dict.fromkeys(said))
            problems.append(f"{routing_key}: you said {_said(said_once)}. " + ". ".join(reasons))
    extra = [key for key in predictions if key not in TUTORIAL_KEYS]
    notes = [f"'{key}' is not one of the tutorial's keys (ignored)" for key in extra]
    answered = len(TUTORIAL_KEYS) - len(waiting)
    if problems:
        return wrong(
            f"{len(problems)} of your {answered} predictions are off",
            *problems,
            *([f"still to predict: {', '.join(waiting)}"] if waiting else []),
            *notes,
        )
    if waiting:
        return wrong(
            f"{answered} of {len(TUTORIAL_KEYS)} predicted, all right so far",
            f"still to predict: {', '.join(waiting)}",
            "write [] for a message no queue gets",
            *notes,
        )
    return right(
        f"All {len(TUTORIAL_KEYS)} predictions are right",
        "lazy.pink.rabbit matches both of Q2's bindings and still arrives once",
        "quick.brown.fox, orange and quick.orange.new.rabbit match nothing: the exchange drops them",
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
    "Bind a queue to every critical message of the kernel and everything cron logs",
    solution="""my_binding_keys = ["kern.#.critical", "cron.#"]
course.EXERCISES["5.2"](broker, my_binding_keys)""",
    explanation=(
        "`kern.#.critical` takes `kern.critical` (# matches zero words: `a.#.b` matches `a.b`) "
        "and `kern.disk.critical` (# matches one); `cron.#` takes every cron key, however many "
        "words follow. `kern.critical` plus `kern.*.critical` and `cron.*` plus `cron.*.*` work "
        "too, for these keys."
    ),
    hints=(
        "Kernel keys have two or three words, cron keys too: `*` is exactly one word, so which "
        "wildcard can stand for 'zero or one word'?",
        "A binding key may have `#` in the middle: `a.#.b`.",
    ),
)
def check_log_bindings(broker: Any = None, binding_keys: Any = None) -> Feedback:
    """`binding_keys`: the keys binding one queue to a topic exchange of log messages keyed
    `<facility>.<severity>` or `<facility>.<subsystem>.<severity>`. Routed on `broker`."""
    if not isinstance(broker, BrokerHandle):
        return wrong(
            "Pass the broker first, then your binding keys",
            'course.EXERCISES["5.2"](broker, ["kern.*", "*.critical"]): the check routes the test '
            "messages through a topic exchange on your broker",
        )
    keys = _binding_keys(binding_keys)
    if isinstance(keys, Feedback):
        return keys
    try:
        reached = route_on_broker(broker, keys, LOG_KEYS)
    except (pika.exceptions.AMQPError, OSError) as error:
        return wrong("The broker could not run the check", f"{type(error).__name__}: {error}")
    missed = [key for key, wanted in LOG_KEYS.items() if wanted and not _through(keys, key, reached)]
    extra = [key for key, wanted in LOG_KEYS.items() if not wanted and _through(keys, key, reached)]
    shown = listed(keys)
    if not missed and not extra:
        details = [
            f"'{key}' takes {', '.join(sorted(reached[key], key=list(LOG_KEYS).index)) or 'nothing here'}"
            for key in keys
        ]
        return right(f"[{shown}] routes all {len(LOG_KEYS)} test messages as asked", *details)
    lines: list[str] = []
    literal = [key for key in keys if _glued(key)]
    for key in literal:
        lines.append(f"'{key}' matches none of these keys: {_literal_note(key)}")
    for routing_key in missed:
        lines.append(f"misses {routing_key}: {_miss(keys, literal, routing_key)}")
    for routing_key in extra:
        through = _through(keys, routing_key, reached)
        lines.append(f"wrongly gets {routing_key}: {explain(through[0], routing_key)}")
    if "#" in keys:
        lines.append("'#' alone takes every message: with it, a topic exchange acts like a fanout exchange")
    if missed and not any("#" in key for key in keys):
        lines.append("hint: # matches zero or more words, where * matches exactly one")
    problems = and_joined(
        f"misses {len(missed)}" if missed else "", f"wrongly gets {len(extra)}" if extra else ""
    )
    return wrong(f"[{shown}] {problems} of the {len(LOG_KEYS)} test messages", *lines)


def _glued(binding_key: str) -> bool:
    """A word with * or # in it that is not * or #: a literal word, not a wildcard."""
    return any(word not in ("*", "#") and ("*" in word or "#" in word) for word in words(binding_key))


def _literal_note(binding_key: str) -> str:
    glued = next(
        word for word in words(binding_key) if word not in ("*", "#") and ("*" in word or "#" in word)
    )
    return (
        f"'{glued}' is not a wildcard but a literal word: * and # only work as whole words between "
        "dots (* stands for a word, not for characters)"
    )


def _miss(binding_keys: list[str], literal: list[str], routing_key: str) -> str:
    """Why none of `binding_keys` takes `routing_key`, told for the bindings that could have:
    those starting with the key's first word or a wildcard."""
    first = words(routing_key)[0] if routing_key else ""
    near = [
        key for key in binding_keys if key not in literal and (words(key) or [""])[0] in (first, "*", "#")
    ]
    if not near:
        return f"no binding starts with '{first}' or a wildcard"
    return "; ".join(f"'{key}': {_why_not(key, routing_key)}" for key in near)


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
X_MATCHES = ("all", "any", "all-with-x", "any-with-x")


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
        return "the binding compares no header at all"
    parts = []
    for name, value in compared.items():
        if name not in given:
            parts.append(f"it has no {name}")
        elif given[name] != value or type(given[name]) is not type(value):
            parts.append(f"its {name} is {given[name]!r}, not {value!r}")
        else:
            parts.append(f"its {name} is {value!r}")
    return "; ".join(parts)


@exercise(
    "5.3",
    "Bind a queue to acme's invoices on a headers exchange",
    solution="""invoice_binding = {"x-match": "all-with-x", "type": "invoice", "x-tenant": "acme"}
course.EXERCISES["5.3"](broker, invoice_binding)""",
    explanation=(
        "Both headers must match, so `all`; and the tenant travels in `x-tenant`, a name that "
        "starts with `x-`, which `all` and `any` ignore. `all-with-x` compares it too. With plain "
        "`all` the binding would compare only `type`, and take every tenant's invoices."
    ),
    hints=(
        "Which x-match takes a message only when every header matches, and which one takes it "
        "when one is enough?",
        "Look at the name of the tenant's header: what do `all` and `any` do with names that "
        "start with `x-`?",
    ),
)
def check_invoice_binding(broker: Any = None, arguments: Any = None) -> Feedback:
    """`arguments`: the binding arguments (x-match and headers) of a queue that must get acme's
    invoices and nothing else. Bound and routed on `broker`."""
    if not isinstance(broker, BrokerHandle):
        return wrong(
            "Pass the broker first, then your binding's arguments",
            'course.EXERCISES["5.3"](broker, {"x-match": "all", "type": "invoice"}): the check binds a '
            "queue with them to a headers exchange on your broker",
        )
    if not isinstance(arguments, Mapping) or not all(isinstance(key, str) for key in arguments):
        return wrong(
            "Give the binding's arguments as a dict",
            'for example {"x-match": "any", "type": "invoice"}: header names as keys, the values '
            "to compare as values, and x-match saying how many must match",
        )
    try:
        got = route_headers(broker, arguments)
    except pika.exceptions.ChannelClosedByBroker as error:
        return wrong(
            "The broker refused the binding",
            f"{error.reply_code} {error.reply_text}",
            f"x-match must be one of {listed(X_MATCHES)}, as a string",
        )
    except (pika.exceptions.AMQPError, OSError) as error:
        return wrong("The broker could not run the check", f"{type(error).__name__}: {error}")
    missed = [label for label, (_, wanted) in INVOICE_MESSAGES.items() if wanted and label not in got]
    extra = [label for label, (_, wanted) in INVOICE_MESSAGES.items() if not wanted and label in got]
    if not missed and not extra:
        return right(
            f"Your binding takes acme's {plural(len(got), 'invoice')} and none of the other "
            f"{len(INVOICE_MESSAGES) - len(got)} messages",
            "the French invoice's extra lang header does not stop it: a binding says what must be "
            "there, not what may not",
        )
    match = str(arguments.get("x-match", "all"))
    lines: list[str] = []
    if match in ("all", "any") and any(key.startswith("x-") and key != "x-match" for key in arguments):
        ignored = [key for key in arguments if key.startswith("x-") and key != "x-match"]
        lines.append(
            f"with x-match '{match}', headers whose names start with x- are ignored: your "
            f"{listed(ignored)} is not compared at all ('{match}-with-x' would compare it)"
        )
    if "x-match" not in arguments:
        lines.append("no x-match: the broker takes it as 'all'")
    if TENANT not in arguments:
        lines.append(f"your binding does not mention {TENANT}: nothing tells one tenant from another")
    if match.startswith("any") and extra:
        lines.append(f"'{match}' takes a message as soon as one header matches")
    for label in missed:
        lines.append(f"misses {label}: {_headers_reason(arguments, INVOICE_MESSAGES[label][0])}")
    for label in extra:
        lines.append(f"wrongly gets {label}: {_headers_reason(arguments, INVOICE_MESSAGES[label][0])}")
    problems = and_joined(
        f"misses {len(missed)}" if missed else "", f"wrongly gets {len(extra)}" if extra else ""
    )
    return wrong(f"Your binding {problems} of the {len(INVOICE_MESSAGES)} test messages", *lines)
