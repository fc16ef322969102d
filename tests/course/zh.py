"""What the tests of the Chinese edition share: is a text written in Chinese?"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import contextmanager

import rabbitsim

#: what is not prose: code spans, quoted reprs ('hello', "b'x'"), numbers, URLs, names_with_underscores
_NOT_PROSE = re.compile(r"`[^`]*`|'[^']*'|\"[^\"]*\"|https?://\S+|\b\w*[_.]\w+\b|\d+")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def chinese_share(text: str) -> float:
    """Of the prose in `text`, the share written in Chinese: CJK characters against Latin words
    (a Chinese sentence naming RabbitMQ, pika or basic.ack is still Chinese)."""
    prose = _NOT_PROSE.sub(" ", text)
    cjk = len(_CJK.findall(prose))
    latin = len(_LATIN_WORD.findall(prose))
    return cjk / (cjk + latin) if cjk + latin else 0.0


def is_chinese(text: str) -> bool:
    return chinese_share(text) >= 0.6


@contextmanager
def speaking(code: str) -> Iterator[None]:
    """The course speaks `code` ("en" or "zh") inside the block, as in a chapter of that edition."""
    rabbitsim.language(code)
    try:
        yield
    finally:
        rabbitsim.language("en")


def in_chinese() -> contextlib.AbstractContextManager[None]:
    """The course speaks Chinese inside the block, as in a chapter of notebooks/zh/."""
    return speaking("zh")
