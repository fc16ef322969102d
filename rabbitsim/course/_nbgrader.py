"""The course's exercises as nbgrader assignments, for teachers who grade.

    from rabbitsim.course import export_nbgrader
    export_nbgrader(Path("my-course"))     # my-course/source/02_work_queues/02_work_queues.ipynb, ...

Each chapter with exercises becomes one assignment: the chapter's notebook, where every
exercise's answer cell becomes a solution cell (the published solution between nbgrader's
markers; the learner's wrong starting answer no longer code, only shown as comments, since the
chapter's text asks to fix it) and its check becomes a graded cell that asserts the course's own
check (`course.EXERCISES["2.1"](...)`), so a wrong answer loses the point with the check's
explanation printed above the failure; its hidden tests make sure the check was not replaced.
Every other cell is read-only: autograding runs the chapter exactly as written, with only the
student's answers in it.

The exercises are found the way a learner finds them, by the check call in the notebook; the
solution comes from the exercise (`.solution()`). Nothing is hard-coded per exercise: a chapter
whose cells do not have the expected shape raises `ValueError` naming the exercise."""

from __future__ import annotations

import ast
import re
import shutil
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat as _nbformat
from nbformat import NotebookNode

from rabbitsim._course_files import notebooks_dir
from rabbitsim._language import Language, language, say

from ._chapters import CHAPTERS, EXERCISES, Chapter
from ._feedback import Exercise, plural

__all__ = ["SCHEMA_VERSION", "ExerciseCells", "exercise_cells", "export_nbgrader", "nbgrader_notebook"]

#: nbformat has no type hints: its calls are checked by tests/course/test_nbgrader.py, not by mypy
nbformat: Any = _nbformat

#: the version of nbgrader's cell metadata schema this writes (what nbgrader 0.9 writes too)
SCHEMA_VERSION = 3

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

#: `course.EXERCISES` subscripted with a literal id: the check of one exercise
_REGISTRY = ("course", "EXERCISES")
#: a comment that shows a hint or the solution: `# course.EXERCISES["2.1"].hint()`
_REVEAL = re.compile(r"^\s*#.*EXERCISES\[[\"'][^\"']+[\"']\]\.(hint|solution)\(")
#: a notebook's links to the repository's docs folder (its images and pages): `../docs/` from an
#: English chapter, `../../docs/` from a Chinese one
_DOCS_LINK = re.compile(r"(?:\.\./)+docs/([A-Za-z0-9_.\-/]+)")


@dataclass(frozen=True, slots=True)
class ExerciseCells:
    """One exercise as a notebook asks it: where its answer cell is, what the learner starts
    with, the names the check is given, and the graded version of both cells."""

    exercise: Exercise
    cell_index: int
    starting_answer: str  # the learner's code before the check call (wrong on purpose)
    answer_names: tuple[str, ...]  # what the answer must define for the graded cell
    solution: str  # code that defines answer_names correctly
    check: str  # the check call, with the names the answer defines


def _exercise_id(node: ast.AST) -> str | None:
    """The id if `node` is `course.EXERCISES["<id>"]`."""
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Attribute)
        and isinstance(node.value.value, ast.Name)
        and (node.value.value.id, node.value.attr) == _REGISTRY
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, str)
    ):
        return node.slice.value
    return None


def _check_calls(tree: ast.Module) -> list[tuple[int, ast.Call, str]]:
    """(top-level statement index, call, id) for every check call `course.EXERCISES[id](...)`."""
    found = []
    for index, statement in enumerate(tree.body):
        for node in ast.walk(statement):
            if isinstance(node, ast.Call) and (number := _exercise_id(node.func)) is not None:
                found.append((index, node, number))
    return found


def _defined(statements: Iterable[ast.stmt]) -> set[str]:
    """The names that top-level `statements` bind (assignments, defs, imports)."""
    names: set[str] = set()
    for statement in statements:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(statement.name)
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in statement.names)
        else:
            for node in ast.walk(statement):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    names.add(node.id)
    return names


def _lines_before(source: str, statement: ast.stmt) -> str:
    """The source up to `statement`, without the comments that reveal a hint or the solution."""
    first = statement.lineno - 1
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        first = min([first, *(decorator.lineno - 1 for decorator in statement.decorator_list)])
    kept = [line for line in source.splitlines()[:first] if not _REVEAL.match(line)]
    return "\n".join(kept).strip("\n")


def _trailing_comment(source: str, node: ast.expr) -> str:
    """The comment after `node` on its line, if nothing but a comma stands between: the
    solution's remark about that one argument."""
    assert node.end_lineno is not None and node.end_col_offset is not None
    rest = source.splitlines()[node.end_lineno - 1][node.end_col_offset :].lstrip(" ,)")
    return f"  {rest}" if rest.startswith("#") else ""


def _arguments(call: ast.Call) -> list[tuple[str | None, ast.expr]]:
    """A call's arguments as (keyword or None, value), positional first."""
    return [(None, value) for value in call.args] + [
        (keyword.arg, keyword.value) for keyword in call.keywords
    ]


def _points(points: float) -> str:
    return say(f"{points:g} point" if points == 1 else f"{points:g} points", f"{points:g} 分")


def _and_joined(names: tuple[str, ...]) -> str:
    """`a`, `a and b`, `a, b and c` (`a、b 和 c`): the names an answer must define, as a sentence
    lists them."""
    if len(names) == 1:
        return names[0]
    return say(f"{', '.join(names[:-1])} and {names[-1]}", f"{'、'.join(names[:-1])} 和 {names[-1]}")


def _comment_block(text: str) -> str:
    return "\n".join(f"# {line}".rstrip() for line in textwrap.wrap(text, 96))


def exercise_cells(
    cell_index: int, source: str, exercises: Mapping[str, Exercise] = EXERCISES
) -> ExerciseCells:
    """Take apart the answer cell `source` (a learner's starting answer, then the check call)
    and the exercise's published solution into what the graded notebook needs."""
    tree = ast.parse(source)
    calls = _check_calls(tree)
    ids = {number for _, _, number in calls}
    if len(ids) != 1:
        raise ValueError(
            f"cell {cell_index}: expected the check call of one exercise, found {sorted(ids) or 'none'}"
        )
    (number,) = ids
    if number not in exercises:
        raise ValueError(
            f"cell {cell_index} checks exercise {number!r}, which course.EXERCISES does not list"
        )
    made = exercises[number]
    statement, call, _ = calls[0]
    starting = _lines_before(source, tree.body[statement])
    before = tree.body[:statement]
    learner_defines = _defined(before)

    solution_source = textwrap.dedent(made.answer.code).strip("\n")
    solution_tree = ast.parse(solution_source)
    solution_calls = [found for found in _check_calls(solution_tree) if found[2] == number]
    if solution_calls:
        solution_statement, solution_call, _ = solution_calls[0]
        preamble = _lines_before(solution_source, solution_tree.body[solution_statement])
        solution_defines = _defined(solution_tree.body[:solution_statement])
        solution_arguments = dict(
            (keyword if keyword is not None else position, value)
            for position, (keyword, value) in enumerate(_arguments(solution_call))
        )
    else:  # the solution only defines what the learner's cell defines; the check call is the cell's
        preamble, solution_defines, solution_arguments = solution_source, _defined(solution_tree.body), {}

    names: list[str] = []
    starting_inline: list[str] = []
    assignments: list[str] = []
    arguments: list[str] = []
    for position, (keyword, value) in enumerate(_arguments(call)):
        key: str | int = keyword if keyword is not None else position
        given = solution_arguments.get(key)
        if isinstance(value, ast.Name) and value.id not in learner_defines | solution_defines:
            # context the chapter defined earlier (the broker): passed as it is
            arguments.append(f"{keyword}={value.id}" if keyword else value.id)
            continue
        name = value.id if isinstance(value, ast.Name) else (keyword or f"answer_{position + 1}")
        if not isinstance(value, ast.Name):  # the learner answers in the call itself: kept as a name
            inline = ast.get_source_segment(source, value) or ast.unparse(value)
            starting_inline.append(f"{name} = {inline}{_trailing_comment(source, value)}")
        names.append(name)
        arguments.append(f"{keyword}={name}" if keyword else name)
        if name in solution_defines:
            continue
        if given is None or (isinstance(given, ast.Name) and given.id == name):
            raise ValueError(
                f"exercise {number}: its solution neither defines {name!r} nor gives the check a value for it"
            )
        expression = ast.get_source_segment(solution_source, given) or ast.unparse(given)
        assignments.append(f"{name} = {expression}{_trailing_comment(solution_source, given)}")
    # the starting answer's imports (`import uuid` above a class) that the solution relies on
    imports = [
        ast.get_source_segment(source, node) or ast.unparse(node)
        for node in before
        if isinstance(node, ast.Import | ast.ImportFrom) and not _defined([node]) <= solution_defines
    ]
    solution = "\n".join(part for part in ("\n".join(imports), preamble, "\n".join(assignments)) if part)
    check = f'course.EXERCISES["{number}"]({", ".join(arguments)})'
    starting = "\n".join(part for part in (starting, "\n".join(starting_inline)) if part)
    return ExerciseCells(made, cell_index, starting, tuple(names), solution, check)


def _metadata(
    grade_id: str,
    *,
    grade: bool = False,
    solution: bool = False,
    locked: bool = False,
    points: float | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": SCHEMA_VERSION,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return meta


def _is_reveal_cell(cell: NotebookNode) -> bool:
    """A code cell that only shows, when uncommented, an exercise's hint or solution."""
    lines = [line for line in cell.source.splitlines() if line.strip()]
    return (
        cell.cell_type == "code"
        and bool(lines)
        and all(line.lstrip().startswith("#") for line in lines)
        and any(_REVEAL.match(line) for line in lines)
    )


def _starting_point(code: str) -> list[str]:
    """The chapter's starting answer as comments, outside the solution: the text above the cell
    says "this callback forgets something: fix it", and the student needs that callback to fix."""
    if not code.strip():
        return []
    lines = [f"#     {line}".rstrip() for line in code.splitlines()]
    return [
        say(
            "# The chapter starts you from this answer, wrong on purpose (copy it, then fix it):",
            "# 本章给你的起点是下面这个故意写错的答案（复制它，再改对）：",
        ),
        *lines,
    ]


def _solution_cell(cells: ExerciseCells, grade_id: str) -> NotebookNode:
    made = cells.exercise
    explanation = _comment_block(made.answer.explanation) if made.answer.explanation else ""
    title = made.title if made.title[-1:] in ".?!。？！" else f"{made.title}{say('.', '。')}"
    names = _and_joined(cells.answer_names)
    pronoun = "it" if len(cells.answer_names) == 1 else "them"
    source = "\n".join(
        [
            say(f"# Exercise {made.id}: {title}", f"# 练习 {made.id}：{title}"),
            say(
                f"# Your answer: define {names}. The graded cell below checks {pronoun}.",
                f"# 你的答案：定义 {names}。下面的评分单元格会检查。",
            ),
            *_starting_point(cells.starting_answer),
            BEGIN_SOLUTION,
            *([explanation] if explanation else []),
            cells.solution,
            END_SOLUTION,
        ]
    )
    cell: NotebookNode = nbformat.v4.new_code_cell(
        source, metadata={"nbgrader": _metadata(grade_id, solution=True)}
    )
    return cell


def _graded_cell(cells: ExerciseCells, grade_id: str, points: float) -> NotebookNode:
    made = cells.exercise
    source = "\n".join(
        [
            say(
                f"# Graded: exercise {made.id}, {_points(points)}. The course's own check runs your answer\n"
                "# and prints its verdict: what is wrong, if anything, and why.",
                f"# 评分：练习 {made.id}，{_points(points)}。课程自己的检查会运行你的答案，\n"
                "# 并打印结论：哪里错了（如果有的话），以及为什么。",
            ),
            f"feedback = {cells.check}",
            "print(feedback)",
            say(
                f'assert feedback, "exercise {made.id} is not solved yet: the check above says why"',
                f'assert feedback, "练习 {made.id} 还没有做对：上面的检查说明了原因"',
            ),
            # hidden from students: the verdict came from the course's own check, not from an
            # answer cell that replaced `course.EXERCISES[...]` or forged a truthy verdict
            BEGIN_HIDDEN,
            "from rabbitsim.course import _chapters, _feedback",
            "_genuine = {made.id: made for chapter in _chapters.CHAPTERS for made in chapter.exercises}",
            f'assert course.EXERCISES["{made.id}"] is _genuine["{made.id}"], '
            + say('"the check was replaced"', '"检查被替换了"'),
            "assert type(feedback) is _feedback.Feedback and feedback.ok, "
            + say('"this verdict is not the check\'s"', '"这个结论不是检查给出的"'),
            END_HIDDEN,
        ]
    )
    metadata = {"nbgrader": _metadata(grade_id, grade=True, locked=True, points=points)}
    cell: NotebookNode = nbformat.v4.new_code_cell(source, metadata=metadata)
    return cell


def _read_only(cell: NotebookNode, grade_id: str) -> NotebookNode:
    cell.metadata["nbgrader"] = _metadata(grade_id, locked=True)
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _grade_id(number: str, what: str) -> str:
    return f"exercise_{number.replace('.', '_')}_{what}"


def _header(chapter: Chapter, points: float) -> NotebookNode:
    total = points * len(chapter.exercises)
    listed = say(", ", "、").join(made.id for made in chapter.exercises)
    text = say(
        f"**Graded version of chapter {chapter.number}** ({plural(len(chapter.exercises), 'exercise')}: "
        f"{listed}; {_points(total)}). Write each answer in the cell marked *Your answer*, then "
        "run the graded cell under it: it prints the course's verdict, and fails until the answer "
        "is right. The other cells are read-only; add cells of your own to experiment. Run the "
        "whole notebook top to bottom (*Restart Kernel and Run All Cells*) before you submit: "
        "that is how it is graded.",
        f"**第 {chapter.number} 章的评分版**（{len(chapter.exercises)} 道练习：{listed}；"
        f"共 {_points(total)}）。"
        "把每道题的答案写进标有“你的答案”的单元格，再运行它下面的评分单元格：它会打印课程给出的结论，"
        "答案对了才会通过。其余单元格都是只读的；想做实验，可以自己添加单元格。提交之前，请从头到尾运行"
        "整个 notebook（*重启内核并运行所有单元格*）：评分就是这样运行的。",
    )
    cell: NotebookNode = nbformat.v4.new_markdown_cell(text)
    return cell


def nbgrader_notebook(
    chapter: Chapter, notebook: NotebookNode, *, points: float = 1, with_starting_answers: bool = False
) -> NotebookNode:
    """The nbgrader source version of `chapter`'s `notebook` (not changed). With
    `with_starting_answers`, the solution cells hold the learner's starting answers instead,
    as a student who changed nothing would submit them (for tests)."""
    stem = Path(chapter.notebook).stem
    graded: NotebookNode = nbformat.from_dict(notebook)
    cells: list[NotebookNode] = [_read_only(_header(chapter, points), f"{stem}_header")]
    seen: list[str] = []
    for index, cell in enumerate(graded.cells):
        if _is_reveal_cell(cell):
            continue
        if cell.cell_type == "code" and "EXERCISES[" in cell.source and _check_calls(ast.parse(cell.source)):
            taken = exercise_cells(index, cell.source)
            number = taken.exercise.id
            if number in seen:
                raise ValueError(f"{chapter.notebook}: exercise {number} is checked by two cells")
            seen.append(number)
            solution = _solution_cell(taken, _grade_id(number, "answer"))
            if with_starting_answers:
                solution.source = taken.starting_answer
            cells += [solution, _graded_cell(taken, _grade_id(number, "check"), points)]
            continue
        cells.append(_read_only(cell, f"{stem}_{index:03d}"))
    expected = [made.id for made in chapter.exercises]
    if sorted(seen) != sorted(expected):
        raise ValueError(
            f"{chapter.notebook}: the notebook checks exercises {seen}, the course lists {expected}"
        )
    graded.cells = cells
    for cell in graded.cells:  # the docs it links to are copied beside it: an assignment travels alone
        cell.source = _DOCS_LINK.sub(r"docs/\1", cell.source)
    return graded


def _docs_linked(notebook: NotebookNode) -> list[str]:
    return sorted({found for cell in notebook.cells for found in _DOCS_LINK.findall(cell.source)})


_README = """\
# The rabbitsim course, as nbgrader assignments

Written by `rabbitsim course --export-nbgrader` (or `rabbitsim.course.export_nbgrader`). This
folder is an nbgrader course directory: `source/` holds one assignment per chapter with
exercises, {assignments}.

In each notebook, every exercise is two cells: a **solution cell** (the published solution
between `### BEGIN SOLUTION` and `### END SOLUTION`, with the chapter's wrong starting answer
above it as comments, since the chapter's text asks students to fix it) and a **graded cell**
that runs the course's own check (`course.EXERCISES["2.1"](...)`) and asserts it: a wrong answer
fails, with the check's explanation printed above the failure. The graded cell's hidden tests
(`### BEGIN HIDDEN TESTS`) check that the verdict came from the course's own check, not from an
answer cell that replaced it. Hints and solution cells are gone; every other cell is read-only.
Each graded cell is worth {points:g} point(s).

## Use it

    pip install nbgrader rabbitsim          # the same rabbitsim version as your students
    cd {folder}
    nbgrader generate_assignment 02_work_queues     # release/02_work_queues/: solutions removed
    # hand out release/02_work_queues/ (nbgrader release_assignment on a JupyterHub, or any way)
    # collect into submitted/<student>/02_work_queues/ (nbgrader collect, or by hand)
    nbgrader autograde 02_work_queues              # runs every submission top to bottom
    nbgrader generate_feedback 02_work_queues      # feedback/<student>/02_work_queues/*.html

## What to know

- Autograding runs each notebook in a fresh kernel, on the **simulator** (the chapters' first
  cell: `rabbitsim.start()`), so it needs no RabbitMQ. To grade on a real broker, run nbgrader
  with `RABBITSIM_BACKEND=url` and `RABBITSIM_URL=amqp://user:password@host:5672/` in its
  environment; submissions are then graded one after another on that broker.
- `nbgrader_config.py` here (written only if there was none) gives each cell 120 s before it
  times out; nbgrader's default (30 s) is too short for chapters run on a real broker.
- Read-only cells are restored from this source when autograding, so a student who edits an
  experiment cannot change what is graded. To let students edit experiments in the notebook
  anyway, set `c.LockCells.lock_readonly_cells = False` in `nbgrader_config.py`.
- The checks and solutions ship inside rabbitsim: a student can call
  `course.EXERCISES["2.1"].solution()`. These exercises are for practice that counts a little;
  for an exam, write exercises of your own (nbgrader's usual way) around the course's functions.
- Run the export again after upgrading rabbitsim: it rewrites `source/` and this file.
"""

_README_ZH = """\
# rabbitsim 课程的 nbgrader 作业版（中文版）

由 `rabbitsim course --export-nbgrader --lang zh`（或 `rabbitsim.course.export_nbgrader(..., edition="zh")`）
生成。这个文件夹是一个 nbgrader 课程目录：`source/` 里每个带练习的章节是一份作业，{assignments}。

每个 notebook 里，每道练习都是两个单元格：一个**答案单元格**（`### BEGIN SOLUTION` 和
`### END SOLUTION` 之间是公布的答案，上方以注释形式给出本章故意写错的起始答案，因为章节正文要求学生改正它），
以及一个**评分单元格**：它运行课程自己的检查（`course.EXERCISES["2.1"](...)`）并断言其结论，答案错了就失败，
失败上方会打印检查给出的解释。评分单元格的隐藏测试（`### BEGIN HIDDEN TESTS`）确认结论确实来自课程自己的检查，
而不是被答案单元格替换掉的检查。提示和答案单元格已删除；其余单元格都是只读的。每个评分单元格 {points:g} 分。

## 用法

    pip install nbgrader rabbitsim          # 与学生相同的 rabbitsim 版本
    cd {folder}
    nbgrader generate_assignment 02_work_queues     # release/02_work_queues/：去掉了答案
    # 分发 release/02_work_queues/（在 JupyterHub 上用 nbgrader release_assignment，或任何方式）
    # 收回到 submitted/<学生>/02_work_queues/（nbgrader collect，或手工）
    nbgrader autograde 02_work_queues              # 从头到尾运行每一份提交
    nbgrader generate_feedback 02_work_queues      # feedback/<学生>/02_work_queues/*.html

## 须知

- 自动评分在全新的内核里、在**模拟器**上运行每个 notebook（各章第一个单元格：`rabbitsim.start()`），
  不需要 RabbitMQ。要在真实的 broker 上评分，运行 nbgrader 时在环境里设置 `RABBITSIM_BACKEND=url` 和
  `RABBITSIM_URL=amqp://user:password@host:5672/`；各份提交会在这个 broker 上依次评分。
- 这里的 `nbgrader_config.py`（仅在原来没有时写入）给每个单元格 120 s 的超时；nbgrader 默认的 30 s
  对在真实 broker 上运行的章节来说太短。
- 自动评分时，只读单元格会从这份源文件恢复，所以学生改动实验单元格也改变不了评分的内容。若想让学生在
  notebook 里修改实验单元格，在 `nbgrader_config.py` 中设置 `c.LockCells.lock_readonly_cells = False`。
- 检查和答案都随 rabbitsim 一起发布：学生可以调用 `course.EXERCISES["2.1"].solution()`。这些练习适合
  计少量分数的练习；考试请用 nbgrader 的常规方式，围绕课程提供的函数自己出题。
- 升级 rabbitsim 之后请重新导出：它会重写 `source/` 和本文件。
"""

_CONFIG = """\
# nbgrader settings for the rabbitsim course (written by export_nbgrader; edit freely).
c = get_config()  # noqa: F821
c.Execute.timeout = 120  # seconds per cell: real brokers' statistics lag
"""


def export_nbgrader(
    target: Path,
    *,
    points: float = 1,
    chapters: Iterable[Chapter] = CHAPTERS,
    notebooks: Path | None = None,
    edition: Language = "en",
) -> list[Path]:
    """Write `target/source/<chapter>/<chapter>.ipynb` for every chapter with exercises, the
    docs files they link to beside them, `target/README.md`, and `target/nbgrader_config.py` if
    there is none. Returns the files written. `notebooks`: the English chapters' folder (by
    default the course's: the package's copy, or the clone's); `edition`: "zh" exports the
    Chinese chapters (notebooks/zh/), with the solutions, comments and README in Chinese."""
    spoken = language()
    language(edition)
    try:
        return _export(Path(target), points, chapters, notebooks or notebooks_dir(), edition)
    finally:
        language(spoken)


def _export(
    target: Path, points: float, chapters: Iterable[Chapter], english: Path, edition: Language
) -> list[Path]:
    folder = english if edition == "en" else english / edition
    written: list[Path] = []
    names: list[str] = []
    for chapter in chapters:
        if not chapter.exercises:
            continue
        stem = Path(chapter.notebook).stem
        original = nbformat.read(folder / chapter.notebook, as_version=4)
        graded = nbgrader_notebook(chapter, original, points=points)
        nbformat.validate(graded)
        assignment = target / "source" / stem
        assignment.mkdir(parents=True, exist_ok=True)
        path = assignment / chapter.notebook
        nbformat.write(graded, path)
        written.append(path)
        names.append(stem)
        for linked in _docs_linked(original):
            source = english.parent / "docs" / linked  # the course's docs/, beside its notebooks/
            if source.is_file():
                copy = assignment / "docs" / linked
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, copy)
                written.append(copy)
    readme = target / "README.md"
    readme.write_text(
        say(_README, _README_ZH).format(
            assignments=say(", ", "、").join(f"`{name}`" for name in names), points=points, folder=target
        ),
        encoding="utf-8",
    )
    written.append(readme)
    config = target / "nbgrader_config.py"
    if not config.exists():
        config.write_text(_CONFIG, encoding="utf-8")
        written.append(config)
    return written
