"""Help for every option, "did you mean" for commands, HUBSPOKE_CONFIG documented, validate's
all-at-once report, warnings and --strict, and the simulator's ready-to-paste export lines."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hubspoke_deploy.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "config" / "examples"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]


Parsers = list[tuple[str, argparse.ArgumentParser]]


def _parsers(parser: argparse.ArgumentParser, name: str = "hubspoke-deploy") -> Parsers:
    found = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                found += _parsers(sub, f"{name} {sub_name}")
    return found


def test_every_option_of_every_command_has_help() -> None:
    parsers = _parsers(build_parser())
    assert len(parsers) == 12  # the program and its 11 commands
    missing = []
    for name, parser in parsers:
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_the_help_of_down_unlock_and_simulator_options_says_what_they_do() -> None:
    helps = {name: parser.format_help() for name, parser in _parsers(build_parser())}
    assert "do not ask for confirmation" in helps["hubspoke-deploy down"]
    assert "do not ask for confirmation" in helps["hubspoke-deploy unlock"]
    sim = helps["hubspoke-deploy simulator"]
    for words in ("HTTPS port", "real durations", "inject faults", "random seed", "JSON line per ARM request"):
        assert words in sim, words


def test_an_unknown_command_gets_the_nearest_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["plna"])
    assert info.value.code == 2
    assert "did you mean 'plan'?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["xyzzy"])
    assert "did you mean" not in capsys.readouterr().err  # nothing near: no guess


def test_hubspoke_config_is_documented_in_help_and_readme_and_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = build_parser().format_help()
    assert "HUBSPOKE_CONFIG" in text and "$HUBSPOKE_CONFIG" in text
    assert "HUBSPOKE_CONFIG" in (REPO / "README.md").read_text(encoding="utf-8")
    monkeypatch.setenv("HUBSPOKE_CONFIG", str(EXAMPLES / "sandbox.toml"))
    assert main(["validate"]) == 0
    assert "sandbox.toml: valid" in capsys.readouterr().out


def test_validate_reports_the_region_typo_with_its_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "hubspoke.toml"
    cfg.write_text((EXAMPLES / "sandbox.toml").read_text().replace('"westeurope"', '"westeurop"'))
    assert main(["validate", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "deployment.location: 'westeurop' is not an Azure region" in err
    assert "did you mean 'westeurope'?" in err
    assert main(["validate", "-c", str(cfg), "-o", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["error"] == "config" and doc["problems"][0]["path"] == "deployment.location"


def test_validate_prints_warnings_and_strict_fails_on_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "hubspoke.toml"
    text = (EXAMPLES / "sandbox.toml").read_text()
    cfg.write_text(text.replace("count = 1\nmin_count = 1\nmax_count = 3", "count = 3\nmin_count = 1\nmax_count = 3"))
    assert main(["validate", "-c", str(cfg)]) == 0
    out = capsys.readouterr()
    assert "warning: aks.user_pool.count: count = 3 is ignored while autoscaling is on" in out.err
    assert "valid (1 warning(s))" in out.out
    assert main(["validate", "--strict", "-c", str(cfg)]) == 2
    assert "1 warning(s) and --strict" in capsys.readouterr().err
    assert main(["validate", "--strict", "-c", str(cfg), "-o", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and doc["warnings"][0]["path"] == "aks.user_pool.count"
    assert main(["validate", "--strict", "-c", str(EXAMPLES / "sandbox.toml")]) == 0


def test_the_simulator_prints_export_lines_that_work_from_another_shell(tmp_path: Path) -> None:
    proc = subprocess.Popen([*CLI, "simulator", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        exports: dict[str, str] = {}
        while len(exports) < 3:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "simulator exited"
            if line.startswith("export "):
                key, _, value = line[len("export "):].strip().partition("=")
                exports[key] = value
        assert set(exports) == {"HUBSPOKE_AZURE_ENDPOINT", "HUBSPOKE_AZURE_CREDENTIAL", "REQUESTS_CA_BUNDLE"}
        assert exports["HUBSPOKE_AZURE_ENDPOINT"].startswith("https://127.0.0.1:")
        assert Path(exports["REQUESTS_CA_BUNDLE"]).is_file()
        # "another shell": a separate process with only those lines added to its environment
        env = {**os.environ, **exports, "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json")}
        env.pop("HUBSPOKE_SIMULATOR_STATE", None)
        res = subprocess.run([*CLI, "plan", "-c", str(EXAMPLES / "sandbox.toml"), "-o", "json"],
                             capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        plan = json.loads(res.stdout)
        assert plan["items"] and all(i["action"] == "create" for i in plan["items"])
        assert not (tmp_path / ".hubspoke").exists()  # it used the standalone simulator, not its own
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
