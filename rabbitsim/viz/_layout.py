"""Where nodes go: columns by kind, left to right as messages flow, rows ordered to keep edges
short. Deterministic (sorted ties, a fixed number of sweeps), so tests and pictures repeat."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import networkx as nx  # type: ignore[import-untyped]

from rabbitsim.vocabulary import NodeKind

from ._style import HALF_WIDTHS, INCHES_PER_UNIT, LAYER_GAP, ROW_GAP

SWEEPS = 4
MARGIN_X = 1.0  # room for captions beside the outer columns
MARGIN_TOP = 0.8  # a queue's or exchange's name sits above it
MARGIN_BOTTOM = 0.85  # captions, counts, and the colour key
MAX_HEIGHT_INCHES = 11.0
MIN_INCHES_PER_UNIT = 0.5


@dataclass(frozen=True, slots=True)
class Layout:
    """Node centres in layout units (one unit between rows), the columns, and the figure's
    extent. `to_svg` maps a point to the SVG picture's coordinates (points, y down)."""

    positions: Mapping[str, tuple[float, float]]
    layers: tuple[tuple[str, ...], ...]
    half_widths: Mapping[str, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    inches_per_unit: float = INCHES_PER_UNIT

    @property
    def size(self) -> tuple[float, float]:
        """The figure's size in inches: one scale on both axes, so circles stay round."""
        return (
            (self.xlim[1] - self.xlim[0]) * self.inches_per_unit,
            (self.ylim[1] - self.ylim[0]) * self.inches_per_unit,
        )

    def port(self, node: str, *, right: bool) -> tuple[float, float]:
        """Where an edge meets a node: its right side going out, its left side coming in."""
        x, y = self.positions[node]
        half = self.half_widths[node]
        return (x + half if right else x - half, y)

    def path(self, source: str, target: str) -> tuple[tuple[float, float], tuple[float, float]]:
        """The straight segment a token follows from `source` to `target`, port to port; a
        token going back (requeue, return) leaves by the left side and enters by the right."""
        forward = self.positions[target][0] >= self.positions[source][0]
        return self.port(source, right=forward), self.port(target, right=not forward)

    def to_svg(self, x: float, y: float) -> tuple[float, float]:
        scale = self.inches_per_unit * 72
        return ((x - self.xlim[0]) * scale, (self.ylim[1] - y) * scale)


def layout(graph: nx.DiGraph) -> Layout:
    """Columns: producers, exchanges (deeper when bound to each other), queues, consumers.
    Rows: each column sorted by the mean height of its neighbours, sweeping both ways."""
    layers = _layers(graph)
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        indices = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
        for index in indices:
            heights = _heights(layers)
            neighbours = graph.predecessors if downward else graph.successors
            layers[index] = sorted(
                layers[index],
                key=lambda node: (
                    -_mean([heights[n] for n in neighbours(node) if n in heights], heights[node])
                ),
            )
    heights = _place(graph, layers)
    positions = {
        node: (column * LAYER_GAP, heights[node]) for column, nodes in enumerate(layers) for node in nodes
    }
    half_widths = {  # a stream's log is wider than a queue's box
        node: graph.nodes[node].get("half_width", HALF_WIDTHS[graph.nodes[node]["kind"]])
        for node in graph.nodes
    }
    # a queue's box leaves MARGIN_X - its half width beside it; a wider node keeps that much too
    room = MARGIN_X - HALF_WIDTHS[NodeKind.QUEUE]
    xlim = (
        min([-MARGIN_X] + [positions[n][0] - half_widths[n] - room for n in positions]),
        max(
            [max(len(layers) - 1, 0) * LAYER_GAP + MARGIN_X]
            + [positions[n][0] + half_widths[n] + room for n in positions]
        ),
    )
    ylim = (min(heights.values(), default=0) - MARGIN_BOTTOM, max(heights.values(), default=0) + MARGIN_TOP)
    inches = max(MIN_INCHES_PER_UNIT, min(INCHES_PER_UNIT, MAX_HEIGHT_INCHES / (ylim[1] - ylim[0])))
    return Layout(positions, tuple(tuple(nodes) for nodes in layers), half_widths, xlim, ylim, inches)


def _layers(graph: nx.DiGraph) -> list[list[str]]:
    depth = _exchange_depths(graph)
    queue_column = max(depth.values(), default=1) + 1
    column_of: dict[NodeKind, int] = {
        NodeKind.PUBLISHER: 0,
        NodeKind.QUEUE: queue_column,
        NodeKind.CONSUMER: queue_column + 1,
    }
    columns: dict[int, list[str]] = {}
    for node in sorted(graph.nodes, key=lambda n: _sort_key(graph, n)):
        kind = graph.nodes[node]["kind"]
        column = depth[node] if kind is NodeKind.EXCHANGE else column_of[kind]
        columns.setdefault(column, []).append(node)
    return [columns[column] for column in sorted(columns)]  # empty columns close up


def _exchange_depths(graph: nx.DiGraph) -> dict[str, int]:
    """Column of each exchange: 1, or one more than the deepest exchange bound to it.
    Exchange-to-exchange bindings may form cycles; the edges that close one (found by a
    depth-first search in name order) are left out of the count."""
    exchanges = sorted(n for n in graph.nodes if graph.nodes[n]["kind"] is NodeKind.EXCHANGE)
    chained = nx.DiGraph()
    chained.add_nodes_from(exchanges)
    chained.add_edges_from((a, b) for a, b in graph.subgraph(exchanges).edges if a != b)
    acyclic = nx.DiGraph()
    acyclic.add_nodes_from(exchanges)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in exchanges:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(sorted(chained.successors(root))))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) != 1:
                acyclic.add_edge(node, child)
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(sorted(chained.successors(child)))))
    depth = dict.fromkeys(exchanges, 1)
    for node in nx.topological_sort(acyclic):
        for child in acyclic.successors(node):
            depth[child] = max(depth[child], depth[node] + 1)
    return depth


def _sort_key(graph: nx.DiGraph, node: str) -> tuple[int, tuple[tuple[int, str], ...]]:
    """A column starts in the order the trace met its nodes, then by name, numbers counted as
    numbers ('region-2' before 'region-10')."""
    name = str(graph.nodes[node]["name"])
    parts = tuple((int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", name))
    return (int(graph.nodes[node].get("order", 0)), parts)


def _place(graph: nx.DiGraph, layers: list[list[str]]) -> dict[str, float]:
    """Final heights. The tallest column (the queues' on a tie) is spaced evenly; each other
    column, working outwards from it, puts each node level with its placed neighbours, then
    pushes nodes apart to at least ROW_GAP, keeping the column's order and its mean height.
    A few exchanges beside many queues so spread out instead of crowding the middle."""
    if not layers:
        return {}
    queue_columns = {i for i, nodes in enumerate(layers) if graph.nodes[nodes[0]]["kind"] is NodeKind.QUEUE}
    tallest = max(range(len(layers)), key=lambda i: (len(layers[i]), i in queue_columns, -i))
    heights = _heights([layers[tallest]])
    outwards = sorted(range(len(layers)), key=lambda i: (abs(i - tallest), i))
    for index in outwards[1:]:
        column = layers[index]
        evenly = _heights([column])
        wanted = []
        for node in column:
            placed = [heights[n] for n in nx.all_neighbors(graph, node) if n in heights]
            wanted.append(_mean(placed, evenly[node]))
        heights.update(zip(column, _spread(wanted), strict=True))
    return {node: round(height, 6) for node, height in heights.items()}


def _spread(wanted: list[float]) -> list[float]:
    placed: list[float] = []
    for height in wanted:
        placed.append(min(height, placed[-1] - ROW_GAP) if placed else height)
    shift = (sum(wanted) - sum(placed)) / len(placed)
    return [height + shift for height in placed]


def _heights(layers: list[list[str]]) -> dict[str, float]:
    """Rows centred on 0, first node at the top."""
    return {
        node: ((len(nodes) - 1) / 2 - row) * ROW_GAP for nodes in layers for row, node in enumerate(nodes)
    }


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default
