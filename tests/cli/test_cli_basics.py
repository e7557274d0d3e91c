"""The CLI as a user types it: help, validate, schema, graph, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from pathlib import Path

import jsonschema

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "config" / "examples"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=env, cwd=REPO)


def test_help_lists_commands_and_exit_codes_without_importing_azure() -> None:
    res = run("--help")
    assert res.returncode == 0
    for word in ("validate", "schema", "graph", "plan", "up", "down", "status", "outputs", "unlock"):
        assert word in res.stdout
    assert "130  interrupted" in res.stdout
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys, contextlib, io\n"
         "from hubspoke_deploy.cli import main\n"
         "with contextlib.redirect_stdout(io.StringIO()):\n"
         "    try: main(['--help'])\n"
         "    except SystemExit: pass\n"
         "heavy = sorted(m for m in sys.modules if m.startswith(('azure', 'pydantic', 'rich')))\n"
         "print(heavy)"],
        capture_output=True, text=True, timeout=60,
    )
    assert probe.stdout.strip() == "[]", "--help must not import the Azure SDKs, pydantic or rich"


def test_up_imports_logging_and_the_simulator_server_only_when_used() -> None:
    """What ``up`` does before its first ARM request (issue 15, CLI start): the logger is set up
    without importing structlog (nor rich behind it) and the development credential without the
    simulator's server; both arrive on first use."""
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys, argparse\n"
         "from hubspoke_deploy.cli import _configure_logging\n"
         "from hubspoke_deploy.simulator import SimulatorCredential\n"
         "log = _configure_logging(argparse.Namespace(log_format='json', verbose=0))\n"
         "SimulatorCredential()\n"
         "early = sorted(m for m in sys.modules if m.split('.')[0] in ('structlog', 'rich')\n"
         "               or m == 'hubspoke_deploy.simulator.server')\n"
         "log.info('probe')\n"
         "from hubspoke_deploy.simulator import Simulator, LATENCY_S\n"
         "print(early, 'structlog' in sys.modules, Simulator.__name__, len(LATENCY_S) > 10)"],
        capture_output=True, text=True, timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().splitlines()[-1] == "[] True Simulator True"


def test_examples_validate() -> None:
    for name in ("sandbox.toml", "prod.toml"):
        res = run("validate", "--config", str(EXAMPLES / name))
        assert res.returncode == 0, res.stderr
        assert "valid" in res.stdout


def test_invalid_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = (EXAMPLES / "sandbox.toml").read_text().replace('name = "aks"', 'name = "aks"\ntier = "x"')
    bad = bad.replace('api_server = "10.1.2.0/28"', 'api_server = "10.1.2.0/29"')
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    res = run("validate", "--config", str(path))
    assert res.returncode == 2
    assert "spokes[0].tier: unknown key 'tier'" in res.stderr
    res_json = run("--output", "json", "validate", "--config", str(path))
    assert res_json.returncode == 2
    problems = json.loads(res_json.stdout)["problems"]
    assert any(p["path"] == "spokes[0].tier" for p in problems)


def test_schema_is_valid_json_schema_accepting_both_examples() -> None:
    res = run("schema")
    assert res.returncode == 0
    schema = json.loads(res.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for name in ("sandbox.toml", "prod.toml"):
        with open(EXAMPLES / name, "rb") as fh:
            assert list(validator.iter_errors(tomllib.load(fh))) == []
    assert list(validator.iter_errors({"deployment": {"name": "x", "bogus": 1}}))


def test_missing_config_is_a_usage_error() -> None:
    res = run("validate")
    assert res.returncode == 2
    assert "--config" in res.stderr


def test_graph_renders_mermaid_and_dot_with_critical_path() -> None:
    res = run("graph", "--config", str(EXAMPLES / "sandbox.toml"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("flowchart LR")
    assert "==>" in res.stdout and "critical path" in res.stdout
    dot = run("graph", "--format", "dot", "--config", str(EXAMPLES / "sandbox.toml"))
    assert dot.returncode == 0 and dot.stdout.startswith("digraph")
    assert "color=red" in dot.stdout
