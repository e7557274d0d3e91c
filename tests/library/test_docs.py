"""The README's configuration reference is the generated one, and covers every key of the model."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hubspoke_deploy.config import DeploymentConfig, config_reference_markdown
from pydantic import BaseModel

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n")


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) is None:
        return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, info in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        yield key
        sub = _model_of(info.annotation)
        if sub is not None:
            yield from _keys(sub, key)


def test_readme_reference_is_the_generated_one() -> None:
    assert readme_section() == config_reference_markdown().strip("\n"), (
        "README.md's configuration reference is stale: run python scripts/gen_docs.py"
    )


def test_readme_reference_covers_every_key_with_type_and_default() -> None:
    section = readme_section()
    rows = {line.split("|")[1].strip().strip("`"): line for line in section.splitlines()
            if line.startswith("| `")}
    keys = list(_keys(DeploymentConfig))
    assert len(keys) > 100
    assert [k for k in keys if k not in rows] == []
    for key in keys:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", rows[key])[1:-1]]  # cells; "\|" is escaped
        assert len(cells) == 4 and all(cells), key  # key, type, default, description


def test_gen_docs_check_detects_a_stale_readme(tmp_path: Path) -> None:
    script = REPO / "scripts" / "gen_docs.py"
    ok = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    stale = tmp_path / "README.md"
    stale.write_text(README.read_text(encoding="utf-8").replace("| `firewall.tier` |", "| `firewall.tierx` |"))
    check = subprocess.run([sys.executable, str(script), "--check", "--readme", str(stale)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and "stale" in check.stderr
    fix = subprocess.run([sys.executable, str(script), "--readme", str(stale)], capture_output=True, text=True,
                         timeout=60)
    assert fix.returncode == 0
    assert stale.read_text(encoding="utf-8") == README.read_text(encoding="utf-8")


def test_readme_has_the_operator_sections() -> None:
    text = README.read_text(encoding="utf-8")
    for heading in ("## Install", "## Authentication", "## Using it from a runbook or script", "## CI/CD pipelines",
                    "## State, locking and resume", "## Resume and teardown", "### Exit codes",
                    "## Troubleshooting"):
        assert f"\n{heading}\n" in text, heading
    trouble = text.split("## Troubleshooting", 1)[1]
    for topic in ("SNAT", "ExistingRouteTableNotAssociatedWithSubnet", "AnotherOperationInProgress",
                  "OutboundConnFailVMExtensionError", "Soft-deleted Key Vault"):
        assert topic in trouble, topic
