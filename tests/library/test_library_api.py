"""The public library API against the ARM simulator, through the real SDK clients."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import hubspoke_deploy as hd
import pytest
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.network import PublicIpStep, SubnetStep, foundation_steps

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"
HEAVY = ("azure", "pydantic", "rich")  # what `hubspoke-deploy --help` must not load


def writes(sim: Simulator) -> int:
    m = sim.stats()["methods"]
    return int(m.get("PUT", 0) + m.get("PATCH", 0) + m.get("DELETE", 0))


def small_steps(cfg: Any, bad_prefix: str | None = None) -> list[Any]:
    """The network foundation plus one extra subnet (optionally outside the VNet) and a dependent."""
    spoke = cfg.spokes[0]
    steps: list[Any] = [*foundation_steps(cfg)]
    steps.append(SubnetStep("subnet.extra", cfg, cfg.spoke_vnet_name(spoke), "snet-extra",
                            bad_prefix or "10.1.99.0/24", (keys.vnet(spoke.name),)))
    steps.append(PublicIpStep("pip.after-extra", cfg, "pip-after-extra", requires=("subnet.extra",)))
    return steps


def test_public_api_is_listed_typed_and_lazy() -> None:
    # A fresh interpreter: importing the package (and the CLI parser, for --help) loads no
    # Azure SDK, pydantic, rich or structlog; the library names resolve on first use.
    code = (
        "import sys, json, hubspoke_deploy as hd\n"
        "from hubspoke_deploy.cli import build_parser\n"
        "build_parser().format_help()\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
        "names = {n: type(getattr(hd, n)).__name__ for n in hd.__all__}\n"
        "print(json.dumps({'heavy': heavy, 'names': names}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["heavy"] == []
    for name in ("load_config", "plan", "up", "down", "status", "outputs"):
        assert report["names"][name] == "function"
    for name in ("RunResult", "StepResult", "PlanResult", "PlanItem", "RunStatus", "StepStatus", "ConfigError",
                 "DeploymentFailed", "StateLocked", "Interrupted"):
        assert name in hd.__all__
    assert sorted(hd.__all__) == sorted(set(hd.__all__))
    with pytest.raises(AttributeError):
        hd.does_not_exist  # noqa: B018
    assert (Path(hd.__file__).parent / "py.typed").exists()
    # Every public function documents itself with an example.
    for fn in (hd.load_config, hd.plan, hd.up, hd.down, hd.status, hd.outputs):
        assert fn.__doc__ and ">>>" in fn.__doc__, fn.__name__


def test_status_enums_compare_and_print_as_their_values() -> None:
    assert hd.RunStatus.SUCCEEDED == "succeeded"
    assert hd.RunStatus("failed") is hd.RunStatus.FAILED
    assert f"{hd.RunStatus.INTERRUPTED}" == "interrupted" == str(hd.RunStatus.INTERRUPTED)
    assert f"{hd.RunStatus.FAILED:>8}" == "  failed"
    assert json.dumps({"s": hd.RunStatus.SUCCEEDED}) == '{"s": "succeeded"}'
    assert hd.StepStatus.NOT_STARTED == "not_started" and hd.StepStatus.KEPT == "kept"


def test_lifecycle_plan_up_down_with_events(sim: Simulator, env: dict[str, str],
                                            capfd: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root_handlers = list(logging.getLogger().handlers)
    cfg = hd.load_config(SANDBOX, env=env)

    preview = hd.plan(cfg)
    assert isinstance(preview, hd.PlanResult) and preview.has_changes
    assert preview.items and {i.action for i in preview.items} == {"create"}
    assert preview.counts() == {"create": len(preview.items)}
    assert writes(sim) == 0  # plan only reads

    events: list[dict[str, Any]] = []
    lock = threading.Lock()

    def on_event(event: dict[str, Any]) -> None:
        with lock:
            events.append(event)

    result = hd.up(cfg, parallelism=8, on_event=on_event)
    assert isinstance(result, hd.RunResult)
    assert result.status is hd.RunStatus.SUCCEEDED and result.ok and result.command == "up"
    assert set(result.steps) == {i.key for i in preview.items}
    assert result.summary() == {"succeeded": len(preview.items)}
    assert result.failures == [] and keys.RG in result.changed and set(result.changed) <= set(result.steps)
    step = result.steps[keys.RG]
    assert isinstance(step, hd.StepResult) and step.action == "create" and step.changed
    assert step.resource_id and step.resource_id.lower().endswith(f"/resourcegroups/{cfg.resource_group}")
    assert all(s.attempts >= 1 and s.duration_s >= 0 and s.error is None for s in result.steps.values())
    assert result.outputs["firewall_private_ip"] and result.outputs["aks_private_fqdn"]
    json.dumps(result.as_dict())  # JSON-ready

    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    finished = {e["step"]: e for e in events if e["event"] == "step_finished"}
    started = {e["step"] for e in events if e["event"] == "step_started"}
    assert set(finished) == started == set(result.steps)
    assert all(e["status"] == "succeeded" for e in finished.values())
    assert sorted(k for k, e in finished.items() if e["changed"]) == result.changed
    assert events[-1]["status"] == "succeeded"

    # Up to date now: the plan has no changes and a second up writes nothing.
    assert not hd.plan(cfg).has_changes
    sim.reset_stats()
    again = hd.up(cfg, on_event=None)
    assert again.ok and again.changed == [] and writes(sim) == 0

    st = hd.status(cfg)
    assert st["deployment"] == cfg.name
    assert {v["status"] for v in st["steps"].values()} == {"succeeded"}
    assert hd.outputs(cfg) == result.outputs
    # A path is accepted wherever a config is (overrides then come from the environment).
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert hd.outputs(str(SANDBOX)) == result.outputs
    assert hd.status(SANDBOX)["steps"] == st["steps"]

    teardown = hd.plan(cfg, destroy=True)
    assert {i.action for i in teardown.items} <= {"delete", "keep"} and teardown.counts().get("delete")
    down_events: list[dict[str, Any]] = []
    gone = hd.down(cfg, on_event=down_events.append)
    assert gone.status == "succeeded" and gone.command == "down"
    assert set(gone.summary()) <= {"deleted", "kept"}
    deleted = [k for k, s in gone.steps.items() if s.status == hd.StepStatus.DELETED]
    assert len(deleted) == teardown.counts()["delete"]
    assert sim.get_resource(f"/subscriptions/{cfg.subscription_id}/resourceGroups/{cfg.resource_group}") is None \
        or teardown.counts().get("keep")
    assert down_events[0]["event"] == "run_started" and down_events[0]["command"] == "down"
    assert hd.status(cfg)["teardown"] is not None

    # The library printed nothing and configured no logging.
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert logging.getLogger().handlers == root_handlers


def test_failure_raises_deployment_failed_then_resumes(sim: Simulator, env: dict[str, str]) -> None:
    cfg = hd.load_config(SANDBOX, env=env)
    with pytest.raises(hd.DeploymentFailed) as info:
        hd.up(cfg, steps=small_steps(cfg, bad_prefix="10.99.0.0/24"))
    err = info.value
    assert err.exit_code == hd.EXIT_FAILED
    assert [f.step for f in err.failures] == ["subnet.extra"]
    assert err.failures[0].code == "NetcfgSubnetRangeOutsideVnet"
    result = err.result  # type: ignore[attr-defined]
    assert result.status is hd.RunStatus.FAILED
    assert result.steps["subnet.extra"].status == hd.StepStatus.FAILED
    assert result.steps["pip.after-extra"].status == hd.StepStatus.NOT_STARTED
    assert result.steps[keys.RG].status == hd.StepStatus.SUCCEEDED

    # raise_on_failure=False returns the same picture without raising
    again = hd.up(cfg, steps=small_steps(cfg, bad_prefix="10.99.0.0/24"), raise_on_failure=False)
    assert again.status == "failed" and [s.key for s in again.failures] == ["subnet.extra"]
    assert hd.status(cfg)["steps"]["subnet.extra"]["last_error"]["code"] == "NetcfgSubnetRangeOutsideVnet"

    # fixed input: the resume writes only the failed branch
    fixed = hd.up(cfg, steps=small_steps(cfg))
    assert fixed.ok and fixed.changed == ["pip.after-extra", "subnet.extra"]


def test_cancel_before_start_raises_interrupted(sim: Simulator, env: dict[str, str]) -> None:
    cfg = hd.load_config(SANDBOX, env=env)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(hd.Interrupted) as info:
        hd.up(cfg, steps=small_steps(cfg), cancel=cancel)
    assert info.value.exit_code == hd.EXIT_INTERRUPTED
    assert writes(sim) == 0
    result = hd.up(cfg, steps=small_steps(cfg), cancel=cancel, raise_on_failure=False)
    assert result.status is hd.RunStatus.INTERRUPTED and not result.ok


def test_config_from_a_dict_and_errors_before_any_azure_call(sim: Simulator, env: dict[str, str]) -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    data = tomllib.loads(SANDBOX.read_text())
    cfg = hd.load_config(data, env=env)
    assert cfg.name == "sandbox" and cfg.azure.endpoint == sim.endpoint
    assert hd.load_config(cfg) is cfg

    data["firewall"]["tier"] = "Gold"
    data["firewall"]["public_ip_count"] = "many"
    sim.reset_stats()
    with pytest.raises(hd.ConfigError) as info:
        hd.plan(data)
    paths = {p.path for p in info.value.problems}
    assert {"firewall.tier", "firewall.public_ip_count"} <= paths  # every problem at once
    assert info.value.exit_code == hd.EXIT_USAGE
    assert sim.stats()["total"] == 0


def test_a_second_run_is_refused_while_the_state_is_locked(sim: Simulator, env: dict[str, str]) -> None:
    from hubspoke_deploy.orchestrator.stores import LockInfo, open_store

    cfg = hd.load_config(SANDBOX, env=env)
    store = open_store(cfg.state, cfg.name, None, env)
    store.acquire(LockInfo.current("up", "other-run"))
    try:
        with pytest.raises(hd.StateLocked) as info:
            hd.up(cfg, steps=small_steps(cfg))
        assert info.value.exit_code == hd.EXIT_LOCKED
    finally:
        store.release()
    assert writes(sim) == 0
    assert hd.up(cfg, steps=small_steps(cfg)).ok
