"""Render the step DAG as mermaid or Graphviz DOT, with the critical path marked."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from hubspoke_deploy.orchestrator.engine import build_graph, longest_path
from hubspoke_deploy.orchestrator.step import Step


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
