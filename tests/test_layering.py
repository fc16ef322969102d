"""The layers of DESIGN.md, proven on the import graph: a package imports only packages below
it (adapters, which share a layer, not each other), with no cycle; and the core loads no I/O.

Every import statement counts, wherever it stands: at the top, inside a function (a lazy
import is still a dependency) or under `if TYPE_CHECKING:` (a type from above is one too).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rabbitsim"

#: rabbitsim's parts, bottom up. A part may import parts of lower layers only; the parts of one
#: layer are peers that know nothing of each other (the adapters on the core).
LAYERS: tuple[frozenset[str], ...] = (
    # data; lazy names; atomic work; the course's language
    frozenset({"vocabulary", "_version", "_lazy", "_interrupts", "_language"}),
    frozenset({"_course_files"}),  # where the course's notebooks are, and a learner's copy (stdlib only)
    frozenset({"_editions"}),  # the Chinese edition built from the English one and its translations
    frozenset({"broker"}),  # the sans-IO core
    frozenset({"amqp", "store", "admin", "sim"}),  # adapters on the core, each one kind of I/O
    frozenset({"backends"}),  # where the broker lives: one handle for all
    frozenset({"trace"}),  # recording a handle's events
    frozenset({"viz"}),  # pictures of traces and topologies
    frozenset({"course"}),  # what the chapters share, the interview drill
    frozenset({"cli"}),  # the command line (`rabbitsim course` copies the course, exports it for nbgrader)
    frozenset({"__init__", "__main__"}),  # the package face (`rabbitsim.start`), `python -m`
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def part_of(module: Path) -> str:
    """The part a source file belongs to: its top folder, or its own name for a top module."""
    relative = module.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(module: Path) -> set[str]:
    """The parts of rabbitsim that `module` imports, anywhere in it."""
    tree = ast.parse(module.read_text(), str(module))
    package = ["rabbitsim", *module.relative_to(PACKAGE).parent.parts]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package[: len(package) - node.level + 1]
                names = [".".join([*base, node.module] if node.module else base)]
                if not node.module:  # `from . import x`: each x may be a part of its own
                    names = [f"{names[0]}.{alias.name}" for alias in node.names]
            else:
                names = [node.module or ""]
                if node.module == "rabbitsim":
                    names = [f"rabbitsim.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            dotted = name.split(".")
            if dotted[0] == "rabbitsim":
                found.add(dotted[1] if len(dotted) > 1 else "__init__")
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_has_a_layer() -> None:
    parts = {part_of(module) for module in SOURCES}
    assert parts <= set(RANK), f"parts missing from LAYERS: {sorted(parts - set(RANK))}"


@pytest.mark.parametrize("module", SOURCES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_go_down(module: Path) -> None:
    own = part_of(module)
    wrong = sorted(
        part
        for part in imported_parts(module) - {own}
        if part in RANK and RANK[part] >= RANK[own]  # above, or a peer in the same layer
    )
    assert not wrong, f"{own} (layer {RANK[own]}) imports {wrong}: {[RANK[part] for part in wrong]}"


def test_the_part_graph_has_no_cycle() -> None:
    """Implied by the ranks, and checked on its own so that a failure says where the loop is."""
    graph: dict[str, set[str]] = {}
    for module in SOURCES:
        graph.setdefault(part_of(module), set()).update(imported_parts(module) - {part_of(module)})
    visiting: list[str] = []
    done: set[str] = set()

    def visit(part: str) -> None:
        if part in done:
            return
        assert part not in visiting, f"import cycle: {' -> '.join([*visiting, part])}"
        visiting.append(part)
        for nxt in sorted(graph.get(part, ())):
            visit(nxt)
        visiting.pop()
        done.add(part)

    for part in sorted(graph):
        visit(part)


def loaded_by(statement: str, modules: tuple[str, ...]) -> list[str]:
    """Which of `modules` a fresh interpreter has loaded after `statement`."""
    probe = f"import sys; {statement}; print(','.join(m for m in {modules!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [name for name in result.stdout.strip().split(",") if name]


def test_the_core_loads_no_io() -> None:
    io = ("socket", "selectors", "asyncio", "pika", "rabbitsim.amqp", "rabbitsim.backends")
    assert loaded_by("import rabbitsim.broker", io) == []


def test_the_vocabulary_loads_nothing_of_rabbitsim() -> None:
    others = ("rabbitsim.broker", "rabbitsim.amqp", "rabbitsim.backends", "rabbitsim.trace", "pika")
    assert loaded_by("import rabbitsim.vocabulary", others) == []


def test_pictures_load_no_broker() -> None:
    """Drawing a trace needs neither a client library nor a server."""
    brokers = ("pika", "rabbitsim.amqp", "rabbitsim.backends", "rabbitsim.broker")
    assert loaded_by("import rabbitsim.viz", brokers) == []
