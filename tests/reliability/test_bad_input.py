"""Bad input (issue 9): every invalid config of the config tests through the CLI (exit 2, not one
request reaches the simulator); malformed, truncated and future-version state documents (exit 2,
left untouched); a config change between a failed run and its resume."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hubspoke_deploy import cli
from hubspoke_deploy.simulator import FaultSpec, Simulator


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


HERE = Path(__file__).resolve().parent
S = _load("hubspoke_reliability_support", HERE / "_support.py")
# the table of invalid configs of tests/config/test_validation.py, reused as data
VALIDATION = _load("hubspoke_reliability_validation_cases", HERE.parent / "config" / "test_validation.py")
CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = list(VALIDATION.CASES)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=41) as s:
        yield s


def _invalid_config(tmp_path: Path, index: int) -> Path:
    _name, mutate, _path, _message = CASES[index]
    data = copy.deepcopy(S.load_sandbox())
    mutate(data)
    return S.write_toml(data, tmp_path / f"invalid-{index}.toml")


def test_every_invalid_config_exits_2_before_any_request(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    report: Callable[[str], None],
) -> None:
    assert len(CASES) >= 40
    sim.reset()
    overrides = S.cli_env(sim, tmp_path / "state.json")
    wrong: list[str] = []
    for i, (name, _mutate, path, message) in enumerate(CASES):
        config = _invalid_config(tmp_path, i)
        # HUBSPOKE_AZURE_* / HUBSPOKE_STATE_* would override the very keys the [azure] and [state] cases break
        own_section = path.startswith(("azure.", "state."))
        for key, value in overrides.items():
            if key.startswith("HUBSPOKE_") and own_section:
                monkeypatch.delenv(key, raising=False)
            else:
                monkeypatch.setenv(key, value)
        code = cli.main(["up", "--yes", "--config", str(config), "--output", "json"])
        out = capsys.readouterr().out
        try:
            problems = json.loads(out)["problems"]
        except (ValueError, KeyError):
            problems = []
        if code != 2 or not any(p["path"] == path and message in p["message"] for p in problems):
            wrong.append(f"{name}: exit {code}, {out[:300]}")
    # three of them as separate processes too, exactly as a user runs the command
    for i in (0, len(CASES) // 2, len(CASES) - 1):
        proc = S.run_cli(S.cli_env(sim, tmp_path / "state.json"), "up", "--yes", config=_invalid_config(tmp_path, i))
        if proc.returncode != 2 or CASES[i][3] not in proc.stderr:
            wrong.append(f"{CASES[i][0]} (subprocess): exit {proc.returncode}, {S.tail(proc.stderr, 300)}")
    requests = sim.stats()["total"]
    report(f"bad config: {len(CASES) - len(wrong)}/{len(CASES)} invalid configs exit 2 with their problem named "
           f"(+3 as subprocesses), {requests} requests reached the simulator")
    assert wrong == []
    assert requests == 0
    assert not (tmp_path / "state.json").exists()


def _valid_doc() -> dict[str, Any]:
    return {"schema_version": 1, "deployment": "sandbox", "created_at": "2025-01-01T00:00:00.000+00:00",
            "steps": {"rg": {"status": "succeeded", "resource_id":
                             "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-sandbox"}},
            "runs": []}


@pytest.mark.parametrize(
    "kind",
    ["malformed", "truncated", "future-version", "not-an-object", "other-deployment"],
)
def test_unusable_state_documents_exit_2_untouched_without_requests(
    kind: str, sim: Simulator, tmp_path: Path, report: Callable[[str], None]
) -> None:
    sim.reset()
    raw = json.dumps(_valid_doc(), indent=2).encode()
    content = {
        "malformed": b'{"schema_version": 1, "steps": {,}}',
        "truncated": raw[: len(raw) // 2],
        "future-version": json.dumps({**_valid_doc(), "schema_version": 99}).encode(),
        "not-an-object": b'["schema_version", 1]',
        "other-deployment": json.dumps({**_valid_doc(), "deployment": "prod"}).encode(),
    }[kind]
    state = tmp_path / "state.json"
    state.write_bytes(content)
    proc = S.run_cli(S.cli_env(sim, state), "up", "--yes")
    requests = sim.stats()["total"]
    report(f"state {kind}: exit {proc.returncode}, document untouched: {state.read_bytes() == content}, "
           f"{requests} requests; says: {proc.stderr.strip().splitlines()[-1][:140] if proc.stderr.strip() else ''}")
    assert proc.returncode == 2, S.tail(proc.stderr)
    assert state.read_bytes() == content
    assert requests == 0
    assert "untouched" in proc.stderr or "restore" in proc.stderr, S.tail(proc.stderr)


def test_config_change_between_a_failed_run_and_its_resume(
    sim: Simulator, tmp_path: Path, report: Callable[[str], None]
) -> None:
    sim.reset()
    state = tmp_path / "state.json"
    env = S.cli_env(sim, state)
    # every long-running operation fails: the run fails part-way (exit 1) and is resumable
    sim.set_faults(FaultSpec(lrofail=1.0))
    try:
        failed = S.run_cli(env, "up", "--yes")
    finally:
        sim.set_faults(FaultSpec())
    assert failed.returncode == 1, S.tail(failed.stderr)
    doc = S.read_doc(state)
    assert doc is not None
    statuses = [r.get("status") for r in doc["steps"].values()]
    assert "failed" in statuses
    # the config changes before the resume: a new tag on everything, a bigger user pool
    data = S.load_sandbox()
    data["deployment"]["tags"] = {"owner": "platform-team", "cost-center": "cc-42"}
    data["aks"]["user_pool"]["count"] = 2
    changed = S.write_toml(data, tmp_path / "changed.toml")
    resumed = S.run_cli(env, "up", "--yes", config=changed)
    assert resumed.returncode == 0, S.tail(resumed.stderr)
    taggable = [r for r in sim.resources() if r.get("tags") is not None and "managed-by" in (r.get("tags") or {})]
    untagged = [r["id"] for r in taggable if (r.get("tags") or {}).get("cost-center") != "cc-42"]
    pools = [r for r in sim.resources() if r["type"].lower().endswith("/agentpools") and r["name"] == "user"]
    counts = [(r.get("properties") or {}).get("count") for r in pools]
    final = S.read_doc(state)
    assert final is not None
    not_done = [k for k, r in final["steps"].items() if r.get("status") != "succeeded"]
    plan = S.run_cli(env, "plan", "--detailed-exitcode", config=changed)
    report(f"config change after a failed run: first run exit 1 ({statuses.count('failed')} failed steps), resume "
           f"with the new config exit 0, {len(taggable) - len(untagged)}/{len(taggable)} resources carry the new tag, "
           f"user pool count {counts}, plan after: exit {plan.returncode}")
    assert untagged == []
    assert counts == [2]
    assert not_done == []
    assert plan.returncode == 0, plan.stdout[-2000:]
