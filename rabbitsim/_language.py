"""The language the course speaks to the learner: English or Simplified Chinese.

The course has two editions (notebooks/ and notebooks/zh/). Each Chinese chapter's first cell
calls `rabbitsim.language("zh")`, so the exercise feedback, hints, solutions and the interview
drill of that kernel answer in Chinese; everything else stays as it is (pika's and RabbitMQ's
own messages, queue names, outputs). `say(en, zh)` is how the course writes a sentence in both
when it writes it; `Both(en, zh)` keeps both for a text written once and shown later (an
exercise's title, hints and solution), resolved by `str()` in the kernel's language then.
`commented(code, {comment: 注释})` is a piece of code in both: written once, only its comments
translated, so the two editions' code cannot differ.

Only the standard library, so every layer may import it (layer 0 of tests/test_layering.py)."""

from __future__ import annotations

import io
import os
import tokenize
from collections.abc import Mapping
from typing import Literal, NamedTuple, TypeAlias, get_args

__all__ = ["LANGUAGES", "Both", "Language", "Text", "commented", "from_locale", "language", "say"]

Language = Literal["en", "zh"]
#: the editions, the first one the default
LANGUAGES: tuple[Language, ...] = get_args(Language)

_current: list[Language] = ["en"]


def language(code: str | None = None) -> Language:
    """The course's language in this kernel; with `code` ("en" or "zh"), set it first."""
    if code is not None:
        _current[0] = parse(code)
    return _current[0]


def parse(code: str) -> Language:
    """ "zh", "zh_CN", "zh-Hans", "en_GB"...: the edition it names; a ValueError for others."""
    base = code.strip().replace("-", "_").split("_")[0].lower()
    if base not in LANGUAGES:
        raise ValueError(f"no {code!r} edition of the course: choose one of {', '.join(LANGUAGES)}")
    return base


def from_locale(environ: dict[str, str] | None = None) -> Language:
    """The edition the environment's locale asks for (LC_ALL, LC_MESSAGES, LANG, LANGUAGE, as
    gettext reads them): Chinese for any zh locale, else English."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = env.get(name, "")
        if value and value not in ("C", "POSIX") and not value.startswith("C."):
            return "zh" if value.split(":")[0].lower().startswith("zh") else "en"
    return "en"


def say(en: str, zh: str) -> str:
    """The sentence in the kernel's language: the course writes every learner-facing sentence as
    a pair, so an edition cannot lack one."""
    return zh if _current[0] == "zh" else en


class Both(NamedTuple):
    """A text in both editions, shown in the kernel's language at the time it is shown."""

    en: str
    zh: str

    def __str__(self) -> str:
        return say(self.en, self.zh)


def commented(code: str, zh: Mapping[str, str]) -> Both:
    """`code` in both editions: the Chinese one is the same code with every comment replaced by
    its translation in `zh` ({English comment: Chinese comment}, without the `#`). A comment
    without a translation, or a translation of no comment, is a ValueError when the course is
    imported, so neither edition can show the other's comments."""
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    comments = [token for token in tokens if token.type == tokenize.COMMENT]
    found = {token.string.lstrip("#").strip() for token in comments}
    untranslated = sorted(found - set(zh))
    unused = sorted(set(zh) - found)
    if untranslated or unused:
        raise ValueError(
            f"comments without a translation: {untranslated}; translations of no comment: {unused}"
        )
    lines = code.splitlines(keepends=True)
    for token in reversed(comments):  # from the end, so earlier positions stay valid
        row, column = token.start
        english = token.string.lstrip("#").strip()
        prefix = token.string[: len(token.string) - len(token.string.lstrip("#"))]
        line = lines[row - 1]
        lines[row - 1] = line[:column] + f"{prefix} {zh[english]}" + line[token.end[1] :]
    return Both(code, "".join(lines))


#: what the course's texts are: a plain string (the same in both editions: code, names) or Both
Text: TypeAlias = str | Both
