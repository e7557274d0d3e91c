"""``-o json``: every command prints exactly one JSON document on stdout (issue 16), whatever it
says on stderr -- also when it fails or is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubspoke_deploy.simulator import Simulator

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=21) as s:
        yield s


@pytest.fixture
def env(sim: Simulator, tmp_path: Path) -> dict[str, str]:
    sim.reset()
    full = {k: v for k, v in os.environ.items() if not k.startswith("HUBSPOKE_")}
    full.update({
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json"),
        "REQUESTS_CA_BUNDLE": sim.ca_path,
    })
    return full


def one_document(env: dict[str, str], *args: str) -> tuple[int, object]:
    res = subprocess.run([*CLI, "-o", "json", *args], env=env, cwd=REPO, text=True, capture_output=True,
                         stdin=subprocess.DEVNULL, timeout=240)
    assert res.stdout.strip(), res.stderr[-2000:]
    # json.loads refuses a second document or any text around the first
    return res.returncode, json.loads(res.stdout)


@pytest.mark.parametrize("args", [
    ("validate",), ("schema",), ("graph",), ("plan",), ("status",), ("outputs",), ("unlock",),
    ("verify",), ("up",), ("down", "--yes"), ("verify", "--from", "x"),
])
def test_every_command_prints_one_json_document(env: dict[str, str], args: tuple[str, ...]) -> None:
    code, doc = one_document(env, *args, "--config", str(SANDBOX))
    assert isinstance(doc, dict) and doc
    if args == ("up",):  # changes pending, no terminal to ask on: refused, as a document
        assert code == 2 and "--yes" in str(doc["message"])
    if args == ("verify",):  # nothing deployed on this simulator: said, not a traceback
        assert code == 1 and "up first" in str(doc["message"])
    if args[:3] == ("verify", "--from", "x"):
        assert code == 2 and doc["error"] == "UsageError"


def test_a_config_error_is_one_json_document(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SANDBOX.read_text().replace('name = "aks"', 'name = "aks"\ntier = "x"'))
    code, doc = one_document(env, "validate", "--config", str(bad))
    assert code == 2 and isinstance(doc, dict) and doc["problems"]


def test_simulator_json_prints_its_endpoint_as_one_document(env: dict[str, str]) -> None:
    proc = subprocess.Popen([*CLI, "-o", "json", "simulator", "--port", "0"], env=env, cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        doc = json.loads(proc.stdout.readline())
        assert doc["endpoint"].startswith("https://127.0.0.1:") and Path(doc["ca_path"]).is_file()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert out == ""
