"""The English and Chinese editions cannot drift apart: every Chinese chapter is built from its
English chapter and a translation of every cell (same code cells in the same order, only comments
translated), the committed notebooks are what the translations build, every exercise, hint and
solution exists in both languages with the same code, and the Chinese texts follow one glossary."""

from __future__ import annotations

import io
import json
import re
import shutil
import tokenize
import tomllib
from pathlib import Path

import pytest

import rabbitsim
from rabbitsim import _editions
from rabbitsim._language import commented, from_locale, parse
from rabbitsim.course import EXERCISES
from rabbitsim.course.interview import _bank

from .zh import chinese_share, in_chinese, is_chinese

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = _editions.english_chapters()
GLOSSARY = tomllib.loads((ROOT / "rabbitsim" / "course" / "glossary.toml").read_text(encoding="utf-8"))[
    "term"
]


def zh_notebook(chapter: Path) -> dict:
    return json.loads((chapter.parent / "zh" / chapter.name).read_text(encoding="utf-8"))


def cells(notebook: dict, kind: str) -> list[str]:
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == kind]


def test_the_chinese_edition_is_what_its_translations_build() -> None:
    problems = _editions.check("zh")
    assert not problems, "\n".join(problems) + "\n(rabbitsim editions build zh, after translating)"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.stem)
def test_a_chinese_chapter_has_the_english_code_cells_in_the_same_order(chapter: Path) -> None:
    english = json.loads(chapter.read_text(encoding="utf-8"))
    chinese = zh_notebook(chapter)
    assert [cell["cell_type"] for cell in chinese["cells"]] == [
        cell["cell_type"] for cell in english["cells"]
    ]
    assert [cell.get("id") for cell in chinese["cells"]] == [cell.get("id") for cell in english["cells"]]
    en_code, zh_code = cells(english, "code"), cells(chinese, "code")
    first = zh_code[0].replace(_editions.EDITIONS["zh"] + "\n\n", "", 1)
    assert 'rabbitsim.language("zh")' in zh_code[0] and "rabbitsim.language" not in en_code[0]
    for index, (en, zh) in enumerate(zip(en_code, [first, *zh_code[1:]], strict=True)):
        assert _editions.code_of(zh) == _editions.code_of(en), f"code cell {index} differs"
    en_exercises = re.findall(r"EXERCISES\[\"(\d+\.\d+)\"\]", "\n".join(en_code))
    assert re.findall(r"EXERCISES\[\"(\d+\.\d+)\"\]", "\n".join(zh_code)) == en_exercises


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.stem)
def test_a_chinese_chapters_prose_is_chinese(chapter: Path) -> None:
    """Every markdown cell reads as Chinese: English is left only in code, names and quotations."""
    english_prose = [
        (index, text[:80])
        for index, text in enumerate(cells(zh_notebook(chapter), "markdown"))
        if not is_chinese(re.sub(r"```.*?```|\(https?://[^)]*\)|<[^>]+>", " ", text, flags=re.S))
    ]
    assert not english_prose, f"markdown cells still in English: {english_prose}"


def test_a_changed_english_cell_fails_the_check_until_its_translation_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drift guard itself: edit one English cell, and the build names that cell."""
    chapter = CHAPTERS[1]
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    copy = notebooks / chapter.name
    shutil.copy(chapter, copy)
    monkeypatch.setattr(_editions, "TRANSLATIONS", ROOT / "translations")
    _editions.build(copy, "zh")  # as committed: builds
    notebook = json.loads(copy.read_text(encoding="utf-8"))
    index, cell = next((i, c) for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "markdown")
    cell["source"] = ["A sentence the translation has not seen.\n", *cell["source"]]
    code_index = next(i for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "code" and i > 1)
    notebook["cells"][code_index]["source"] = ["print('new code')"]
    copy.write_text(json.dumps(notebook), encoding="utf-8")
    with pytest.raises(_editions.EditionError) as raised:
        _editions.build(copy, "zh")
    message = str(raised.value)
    assert f"cell {index} (markdown" in message and "has changed since it was translated" in message
    assert f"cell {code_index} (code" in message and "the code differs" in message


def test_a_translation_whose_code_differs_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chapter = CHAPTERS[1]
    text = _editions.translation_file(chapter, "zh").read_text(encoding="utf-8")
    translated = _editions.parse(text)
    code = next(cell for cell in translated if cell.kind == "code" and cell.index > 1)
    broken = text.replace(code.text, code.text.replace("(", "( 1 +", 1), 1)
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / f"{chapter.stem}.md").write_text(broken, encoding="utf-8")
    monkeypatch.setattr(_editions, "TRANSLATIONS", tmp_path)
    with pytest.raises(_editions.EditionError, match=rf"cell {code.index} \(code.*the code differs"):
        _editions.build(chapter, "zh")


def test_code_of_ignores_comments_and_nothing_else() -> None:
    assert _editions.code_of("x = 1  # one\n# a line\ny = 'a # b'\n") == _editions.code_of(
        "x = 1  # 一\n\n# 一行\ny = 'a # b'\n"
    )
    assert _editions.code_of("y = 'a # b'") != _editions.code_of("y = 'a # c'")


def test_code_written_once_has_only_its_comments_translated() -> None:
    both = commented('x = "# not a comment"  # one\n    #two\n', {"one": "一", "two": "二"})
    assert both.en == 'x = "# not a comment"  # one\n    #two\n'
    assert both.zh == 'x = "# not a comment"  # 一\n    # 二\n'
    with pytest.raises(ValueError, match=r"without a translation: \['two'\]"):
        commented("x = 1  # one\n# two\n", {"one": "一"})
    with pytest.raises(ValueError, match=r"translations of no comment: \['three'\]"):
        commented("x = 1  # one\n", {"one": "一", "three": "三"})


# --- exercises: titles, hints, solutions and feedback in both languages ------------------------


@pytest.mark.parametrize("ident", sorted(EXERCISES), ids=str)
def test_every_exercise_speaks_both_languages_with_the_same_solution_code(ident: str) -> None:
    exercise = EXERCISES[ident]
    english = (exercise.title, exercise.hints, exercise.solution().code, exercise.solution().explanation)
    with in_chinese():
        chinese = (exercise.title, exercise.hints, exercise.solution().code, exercise.solution().explanation)
    assert is_chinese(chinese[0]), f"{ident}: title {chinese[0]!r}"
    assert all(is_chinese(hint) for hint in chinese[1]), f"{ident}: hints {chinese[1]!r}"
    assert len(chinese[1]) == len(english[1])
    if english[3]:
        assert is_chinese(chinese[3]), f"{ident}: the solution's explanation {chinese[3][:80]!r}"
    assert _editions.code_of(chinese[2]) == _editions.code_of(english[2]), (
        f"{ident}: the solution's code differs"
    )
    en_comments, zh_comments = comments(english[2]), comments(chinese[2])
    assert len(zh_comments) == len(en_comments), f"{ident}: the solution's comments"
    untranslated = [
        c
        for c, e in zip(zh_comments, en_comments, strict=True)
        if c == e and re.search("[a-z]{3} [a-z]{3}", c)
    ]
    assert not untranslated, f"{ident}: comments of the solution still in English: {untranslated}"
    assert chinese_share(english[0]) == 0 and not any(chinese_share(hint) for hint in english[1])
    assert chinese_share(english[3]) == 0 and chinese_share(" ".join(en_comments)) == 0


def comments(code: str) -> list[str]:
    """A solution's comments, in order (the only part of its code a translation changes)."""
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return [token.string for token in tokens if token.type == tokenize.COMMENT]


# --- the question bank and quizzes ---------------------------------------------------------------


def test_every_question_of_the_bank_is_translated_from_its_current_english() -> None:
    translated = _bank.translate_bank(_bank.BANK)
    assert not translated.missing, f"questions not in questions.zh.toml: {translated.missing}"
    assert not translated.stale, f"questions whose English changed since translated: {translated.stale}"
    for item in translated.questions:
        assert is_chinese(item.question) and is_chinese(item.answer), item.id
        assert all(is_chinese(f.question) and is_chinese(f.answer) for f in item.follow_ups), item.id


def test_every_quiz_is_translated_from_its_current_english() -> None:
    chinese, missing, stale = _bank.translate_quizzes(_bank.load_quizzes())
    assert not missing and not stale, f"quizzes missing {missing}, stale {stale}"
    for item in chinese:
        assert is_chinese(item.question), item.question
        assert all(is_chinese(choice.feedback) for choice in item.choices), item.question


def test_the_bank_follows_the_kernels_language() -> None:
    english = _bank.question("message-order")
    with in_chinese():
        chinese = _bank.question("message-order")
        shown = chinese._repr_markdown_()
    assert chinese.id == english.id and chinese.prove == english.prove and chinese.topic == english.topic
    assert "高分回答" in shown and "A strong answer" in english._repr_markdown_()
    assert is_chinese(chinese.answer) and not is_chinese(english.answer)


def test_the_notes_questions_are_asked_in_the_notes_own_words() -> None:
    with in_chinese():
        for item in _bank.bank():
            if item.from_notes:
                assert item.question == item.chinese, item.id


# --- the glossary ----------------------------------------------------------------------------------


def chinese_texts() -> dict[str, str]:
    """Every Chinese text of the course, by where it is, with its English original beside it
    (quotations of the study notes are in both and may use words the glossary avoids)."""
    texts = {}
    for chapter in CHAPTERS:
        zh_md = "\n".join(cells(zh_notebook(chapter), "markdown"))
        en_md = "\n".join(cells(json.loads(chapter.read_text(encoding="utf-8")), "markdown"))
        texts[f"zh/{chapter.name}"] = (zh_md, en_md)
    with in_chinese():
        bank = "\n".join(f"{q.question}\n{q.answer}" for q in _bank.bank())
    texts["questions.zh.toml"] = (bank, "\n".join(q.chinese for q in _bank.BANK))
    return texts


def test_the_glossary_is_well_formed() -> None:
    assert len({term["en"] for term in GLOSSARY}) == len(GLOSSARY)
    assert len({term["zh"] for term in GLOSSARY}) == len(GLOSSARY)
    for term in GLOSSARY:
        assert set(term) == {"en", "zh", "avoid"}, term
        assert term["zh"] not in term["avoid"]
    required = {
        "交换机",
        "队列",
        "绑定",
        "路由键",
        "绑定键",
        "虚拟主机",
        "信道",
        "消息确认",
        "持久化",
        "预取",
        "死信交换机",
    }
    assert required <= {term["zh"] for term in GLOSSARY}


@pytest.mark.parametrize("term", GLOSSARY, ids=lambda term: term["en"])
def test_no_chinese_text_uses_a_word_the_glossary_avoids(term: dict) -> None:
    used = [
        (where, word)
        for where, (zh, english) in chinese_texts().items()
        for word in term["avoid"]
        if word in zh and word not in english  # in the English too: a quotation of the notes
    ]
    assert not used, f"use {term['zh']!r} for {term['en']!r}, not: {used}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.stem)
def test_a_glossary_term_comes_with_its_english_on_first_use_in_a_chapter(chapter: Path) -> None:
    """The first time a chapter uses a term (outside quotations of the notes, which are kept as
    they are), the English term is beside it: 交换机（exchange）, or 工作队列（work queue）
    for 队列."""
    english_md = "\n".join(cells(json.loads(chapter.read_text(encoding="utf-8")), "markdown"))
    quotes = set(re.findall(r"[\u4e00-\u9fff][^A-Za-z\n]{3,}", english_md))
    text = "\n".join(cells(zh_notebook(chapter), "markdown"))
    for quote in sorted(quotes, key=len, reverse=True):
        text = text.replace(quote, "□" * len(quote))
    missing = []
    for term in GLOSSARY:
        if len(term["zh"]) < 2 or term["zh"] not in text:
            continue
        at = text.index(term["zh"])
        window = text[max(0, at - 12) : at + len(term["zh"]) + 40].lower()
        if term["en"].lower().split()[-1].rstrip("s") not in window:
            missing.append(f"{term['zh']} ({term['en']}): …{text[max(0, at - 20) : at + 30]}…")
    assert not missing, f"zh/{chapter.name}: first uses without the English term:\n" + "\n".join(missing)


# --- the language itself ---------------------------------------------------------------------------


def test_the_language_is_chosen_per_kernel_and_from_the_locale() -> None:
    assert rabbitsim.language() == "en"
    with in_chinese():
        assert rabbitsim.language() == "zh"
    assert rabbitsim.language() == "en"
    assert parse("zh_CN.UTF-8") == "zh" and parse("zh-Hans") == "zh" and parse("en_GB") == "en"
    with pytest.raises(ValueError, match="no 'fr' edition of the course: choose one of en, zh"):
        parse("fr")
    assert from_locale({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert from_locale({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert from_locale({"LC_ALL": "C", "LANG": "zh_TW.UTF-8"}) == "zh"
    assert from_locale({}) == "en"
