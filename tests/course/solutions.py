"""Running an exercise's published solution as a learner would: the tests of several chapters
check that what `.solution()` shows is itself accepted."""

from __future__ import annotations

import ast
from typing import Any

from rabbitsim import course

__all__ = ["run_solution"]


def run_solution(exercise_id: str, **names: Any) -> course.Feedback:
    """Run an exercise's published solution as a learner would paste it: its last line is the check."""
    tree = ast.parse(course.EXERCISES[exercise_id].solution().code)
    last = tree.body.pop()
    assert isinstance(last, ast.Expr)
    namespace: dict[str, Any] = {"course": course, **names}
    exec(compile(tree, exercise_id, "exec"), namespace)
    verdict = eval(compile(ast.Expression(last.value), exercise_id, "eval"), namespace)
    assert isinstance(verdict, course.Feedback)
    return verdict
