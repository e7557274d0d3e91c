"""The step DAG: building and checking it, its critical path and orders, and rendering it
as mermaid or Graphviz DOT with the critical path marked."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from graphlib import CycleError, TopologicalSorter

from hubspoke_deploy.errors import ConfigError, Problem
from hubspoke_deploy.orchestrator.step import Step


def build_graph(steps: Iterable[Step]) -> dict[str, Step]:
    """Index steps by key and check the graph: duplicates, unknown requires, cycles."""
    by_key: dict[str, Step] = {}
    problems: list[Problem] = []
    for step in steps:
        if step.key in by_key:
            problems.append(Problem(f"graph.{step.key}", "duplicate step key", "give every step a unique key"))
        by_key[step.key] = step
    for step in by_key.values():
        for dep in step.requires:
            if dep not in by_key:
                problems.append(
                    Problem(f"graph.{step.key}", f"requires unknown step {dep!r}", "fix the step's requires")
                )
    if problems:
        raise ConfigError(problems, source="step graph")
    try:
        TopologicalSorter({k: set(s.requires) for k, s in by_key.items()}).prepare()
    except CycleError as err:
        cycle = " -> ".join(str(k) for k in err.args[1])
        raise ConfigError(
            [Problem("graph", f"dependency cycle: {cycle}", "remove one of the requires in the cycle")],
            source="step graph",
        ) from err
    return by_key


def critical_path(steps: Mapping[str, Step], weights: Callable[[Step], float] | None = None) -> dict[str, float]:
    """Longest remaining path (seconds) from each step to the end of the DAG, itself included."""
    weight = weights or (lambda s: s.typical_seconds())
    dependents: dict[str, list[str]] = {k: [] for k in steps}
    for k, s in steps.items():
        for dep in s.requires:
            dependents[dep].append(k)
    order = list(TopologicalSorter({k: set(s.requires) for k, s in steps.items()}).static_order())
    remaining: dict[str, float] = {}
    for k in reversed(order):
        tail = max((remaining[d] for d in dependents[k]), default=0.0)
        remaining[k] = weight(steps[k]) + tail
    return remaining


def longest_path(steps: Mapping[str, Step], weights: Callable[[Step], float] | None = None) -> tuple[float, list[str]]:
    """The critical path: its total weight and its steps in order."""
    weight = weights or (lambda s: s.typical_seconds())
    remaining = critical_path(steps, weight)
    dependents: dict[str, list[str]] = {k: [] for k in steps}
    for k, s in steps.items():
        for dep in s.requires:
            dependents[dep].append(k)
    roots = [k for k, s in steps.items() if not s.requires]
    if not roots:
        return 0.0, []
    current = max(roots, key=lambda k: (remaining[k], k))
    path = [current]
    while dependents[current]:
        current = max(dependents[current], key=lambda k: (remaining[k], k))
        path.append(current)
    return remaining[path[0]], path


def topo_depths(steps: Mapping[str, Step]) -> dict[str, int]:
    """Depth of every step in the DAG (roots are 0), computed once in topological order."""
    depth: dict[str, int] = {}
    for k in TopologicalSorter({k: set(s.requires) for k, s in steps.items()}).static_order():
        if k in steps:
            depth[k] = 1 + max((depth[r] for r in steps[k].requires if r in depth), default=-1)
    return depth


def topo_order(steps: Mapping[str, Step]) -> list[str]:
    """Keys by (depth, key): a stable order in which every step follows what it requires."""
    depth = topo_depths(steps)
    return sorted(steps, key=lambda k: (depth[k], k))


def reverse_order(steps: Mapping[str, Step]) -> list[str]:
    """The teardown order: dependents before what they require."""
    return list(reversed(topo_order(steps)))


def _node_id(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def render(steps: Iterable[Step], fmt: str = "mermaid") -> str:
    graph = build_graph(steps)
    total, path = longest_path(graph)
    on_path = set(path)
    edges_on_path = set(itertools.pairwise(path))
    if fmt == "dot":
        lines = ["digraph hubspoke {", "  rankdir=LR;", f'  label="critical path ~{total:.0f}s (typical)";']
        for key, step in sorted(graph.items()):
            style = ' color=red penwidth=2' if key in on_path else ""
            lines.append(f'  "{key}" [label="{key}\\n{step.typical_seconds():.0f}s"{style}];')
        for key, step in sorted(graph.items()):
            for dep in sorted(step.requires):
                style = " [color=red penwidth=2]" if (dep, key) in edges_on_path else ""
                lines.append(f'  "{dep}" -> "{key}"{style};')
        lines.append("}")
        return "\n".join(lines)
    if fmt != "mermaid":
        raise ValueError(f"unknown format {fmt!r}")
    lines = ["flowchart LR", f"  %% critical path ~{total:.0f}s (typical durations): {' -> '.join(path)}"]
    for key, step in sorted(graph.items()):
        lines.append(f'  {_node_id(key)}["{key} ({step.typical_seconds():.0f}s)"]')
    link = 0
    critical_links: list[int] = []
    for key, step in sorted(graph.items()):
        for dep in sorted(step.requires):
            arrow = "==>" if (dep, key) in edges_on_path else "-->"
            lines.append(f"  {_node_id(dep)} {arrow} {_node_id(key)}")
            if arrow == "==>":
                critical_links.append(link)
            link += 1
    lines.append("  classDef critical stroke:#d00,stroke-width:3px;")
    if on_path:
        lines.append("  class " + ",".join(_node_id(k) for k in path) + " critical;")
    if critical_links:
        lines.append("  linkStyle " + ",".join(str(i) for i in critical_links) + " stroke:#d00,stroke-width:3px;")
    return "\n".join(lines)
