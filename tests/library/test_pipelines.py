"""The pipeline templates are valid YAML and every hubspoke-deploy command in them parses."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hubspoke_deploy.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
PIPELINES = REPO / "scripts" / "pipelines"
ADO = PIPELINES / "azure-pipelines.yml"
GHA = PIPELINES / "github-actions.yml"
OPERATORS = {"|", "||", "&", "&&", ";", ";;", ">", ">>", "<", "(", ")"}


def load(path: Path) -> Any:
    # GitHub's `on:` key is YAML 1.1's boolean True for pyyaml; keep it a string.
    loader = yaml.SafeLoader
    return yaml.load(path.read_text(encoding="utf-8").replace("\non:", '\n"on":'), Loader=loader)


def scripts(node: Any) -> Iterator[str]:
    """Every shell script in a pipeline: `run`, `script`, `bash`, `inlineScript` values."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "script", "bash", "inlineScript") and isinstance(value, str):
                yield value
            else:
                yield from scripts(value)
    elif isinstance(node, list):
        for item in node:
            yield from scripts(item)


def invocations(script: str) -> Iterator[list[str]]:
    """The argument lists of the hubspoke-deploy commands in a shell script."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        for i, token in enumerate(tokens):
            if token.rsplit("/", 1)[-1] == "hubspoke-deploy":
                args: list[str] = []
                for t in tokens[i + 1:]:
                    if t in OPERATORS:
                        break
                    args.append(t)
                yield args


def commands(path: Path) -> list[list[str]]:
    found = [args for script in scripts(load(path)) for args in invocations(script)]
    assert found, f"no hubspoke-deploy command found in {path.name}"
    return found


@pytest.mark.parametrize("path", [ADO, GHA], ids=["azure-devops", "github-actions"])
def test_every_command_parses(path: Path) -> None:
    parser = build_parser()
    seen: list[str] = []
    for args in commands(path):
        ns = parser.parse_args(args)  # SystemExit (test error) on an unknown command or flag
        assert ns.command, args
        assert ns.config, f"{args}: pass --config explicitly"
        if ns.command in ("up", "down"):
            assert ns.yes, f"{args}: a pipeline has no terminal, --yes is required"
        seen.append(ns.command)
    # validate -> plan -> up, and the outputs are collected
    assert [c for c in ("validate", "plan", "up", "outputs") if c in seen] == ["validate", "plan", "up", "outputs"]
    assert seen.index("validate") < seen.index("plan") < seen.index("up")


def test_the_parser_check_catches_a_bad_command() -> None:
    parser = build_parser()
    (args,) = list(invocations('hubspoke-deploy up --config "$X" --yes --paralelism 3 > out.json'))
    assert args == ["up", "--config", "$X", "--yes", "--paralelism", "3"]
    with pytest.raises(SystemExit):
        parser.parse_args(args)
    (args,) = list(invocations("hubspoke-deploy plan --detailed-exitcode || exit $?"))
    assert parser.parse_args(args).detailed_exitcode is True


@pytest.mark.parametrize("path", [ADO, GHA], ids=["azure-devops", "github-actions"])
def test_state_is_a_blob_and_auth_is_federated(path: Path) -> None:
    doc = load(path)
    env = doc["variables"] if path == ADO else doc["env"]
    assert env["HUBSPOKE_STATE_BACKEND"] == "blob"
    assert env["HUBSPOKE_STATE_ACCOUNT_URL"]
    assert env["HUBSPOKE_AZURE_CREDENTIAL"] == "cli"
    assert "connection_string" not in path.read_text().lower()  # no storage key: AAD + lease


def test_azure_devops_stages_validate_plan_approve_up() -> None:
    doc = load(ADO)
    stages = {s["stage"]: s for s in doc["stages"]}
    assert list(stages) == ["Validate", "Plan", "Approve", "Up"]
    assert stages["Plan"]["dependsOn"] == "Validate"
    assert stages["Approve"]["dependsOn"] == "Plan" and stages["Up"]["dependsOn"] == "Approve"
    approve = stages["Approve"]["jobs"][0]
    assert approve["pool"] == "server"
    assert approve["steps"][0]["task"].startswith("ManualValidation@")
    assert "plan.detect.changes" in stages["Approve"]["condition"]
    plan_task = next(s for s in stages["Plan"]["jobs"][0]["steps"] if s.get("task", "").startswith("AzureCLI@"))
    assert plan_task["name"] == "detect"
    for name in ("Validate", "Plan", "Up"):
        assert "agentPool" in stages[name]["pool"]["name"]  # self-hosted pool


def test_github_actions_uses_oidc_and_an_approval_environment() -> None:
    doc = load(GHA)
    assert doc["permissions"]["id-token"] == "write"
    jobs = doc["jobs"]
    assert list(jobs) == ["validate", "plan", "up"]
    assert jobs["plan"]["needs"] == "validate" and jobs["up"]["needs"] == "plan"
    assert jobs["up"]["environment"] == "production"
    assert "needs.plan.outputs.changes == 'true'" in jobs["up"]["if"]
    for name in ("plan", "up"):
        login = next(s for s in jobs[name]["steps"] if str(s.get("uses", "")).startswith("azure/login@"))
        assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}  # OIDC: no client secret
    for job in jobs.values():
        assert "self-hosted" in job["runs-on"]
