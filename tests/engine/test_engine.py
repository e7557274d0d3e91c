"""Engine tests on the ARM simulator over HTTPS, through the real SDK clients."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.errors import ConfigError, StateCorrupt
from hubspoke_deploy.orchestrator.engine import EngineOptions, ParentLocks, RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.simulator import FaultSpec, Simulator
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.network import PublicIpStep, SubnetStep, foundation_steps


def writes(sim: Simulator) -> int:
    methods = sim.stats()["methods"]
    return int(methods.get("PUT", 0) + methods.get("PATCH", 0) + methods.get("DELETE", 0))


def net_steps(cfg: Any, extra_subnets: int = 0) -> list[Step]:
    steps: list[Step] = [*foundation_steps(cfg)]
    for i in (1, 2):
        steps.append(PublicIpStep(keys.firewall_pip(i), cfg, f"pip-fw-{i}", zones=["1", "2", "3"]))
    spoke = cfg.spokes[0]
    vnet = cfg.spoke_vnet_name(spoke)
    for i in range(extra_subnets):
        steps.append(
            SubnetStep(f"subnet.extra.{i}", cfg, vnet, f"snet-extra-{i}", f"10.1.{100 + i}.0/24",
                       (keys.vnet(spoke.name),))
        )
    return steps


def run_up(cfg: Any, steps: list[Step], **kw: Any) -> Any:
    with open_session(cfg, command="up", steps=steps, **kw) as session:
        return session.engine.up()


def test_up_then_up_again_makes_zero_writes(sim: Simulator, cfg: Any) -> None:
    steps = net_steps(cfg)
    first = run_up(cfg, steps)
    assert first.status == RunStatus.SUCCEEDED, first.summary()
    assert writes(sim) >= len(steps)  # at least one write per resource
    rg = sim.get_resource(f"/subscriptions/{cfg.subscription_id}/resourceGroups/{cfg.resource_group}")
    assert rg is not None and rg["tags"]["managed-by"] == "hubspoke-deploy"
    sim.reset_stats()
    second = run_up(cfg, steps)
    assert second.status == RunStatus.SUCCEEDED
    assert writes(sim) == 0
    assert sim.stats()["methods"].get("GET", 0) <= len(steps)  # at most one read per resource
    assert all(o.action == "no-op" for o in second.outcomes.values())


def test_trust_state_makes_no_request(sim: Simulator, cfg: Any) -> None:
    steps = net_steps(cfg)
    assert run_up(cfg, steps).status == RunStatus.SUCCEEDED
    sim.reset_stats()
    result = run_up(cfg, steps, options=EngineOptions(trust_state=True))
    assert result.status == RunStatus.SUCCEEDED
    assert sim.stats()["total"] == 0


def test_independent_steps_overlap_and_children_of_one_vnet_are_serialised(sim: Simulator, cfg: Any) -> None:
    steps = net_steps(cfg, extra_subnets=4)
    result = run_up(cfg, steps)
    assert result.status == RunStatus.SUCCEEDED
    o = result.outcomes
    # the two VNets are independent: they run at the same time
    hub, spoke = o[keys.vnet(keys.HUB)], o[keys.vnet(cfg.spokes[0].name)]
    assert hub.started < spoke.finished and spoke.started < hub.finished
    # subnets (and peerings) of one VNet never overlap their writes, so Azure's
    # AnotherOperationInProgress never reached the engine
    assert "AnotherOperationInProgress" not in sim.stats()["errors"]
    assert all(out.attempts == 1 for out in o.values())


class _NoLocks(ParentLocks):
    def hold(self, keys: Any) -> Any:  # type: ignore[override]
        return super().hold(())


def test_without_parent_locks_azure_refuses_parallel_child_writes(
    cfg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counter-test: the simulator really refuses concurrent writes under one VNet,
    and the retry layer absorbs it, at the cost of extra attempts."""
    from hubspoke_deploy.config import load_config

    with Simulator(time_scale=0.05) as slow:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", slow.ca_path)
        env = {"HUBSPOKE_AZURE_ENDPOINT": slow.endpoint, "HUBSPOKE_STATE_PATH": str(tmp_path / "s.json")}
        c = load_config(Path(__file__).resolve().parents[2] / "config/examples/sandbox.toml", env=env)
        steps = net_steps(c, extra_subnets=6)
        with open_session(c, command="up", steps=steps) as session:
            session.engine.locks = _NoLocks()
            result = session.engine.up()
        assert result.status == RunStatus.SUCCEEDED
        assert slow.stats()["errors"].get("AnotherOperationInProgress", 0) > 0
        assert sum(out.attempts for out in result.outcomes.values()) > len(steps)


def test_failure_blocks_dependents_only_and_resumes(sim: Simulator, cfg: Any) -> None:
    steps = net_steps(cfg)
    spoke = cfg.spokes[0]
    bad = SubnetStep("subnet.bad", cfg, cfg.spoke_vnet_name(spoke), "snet-bad", "10.99.0.0/24",
                     (keys.vnet(spoke.name),))
    dependent = PublicIpStep("pip.after-bad", cfg, "pip-after-bad", requires=("subnet.bad",))
    result = run_up(cfg, [*steps, bad, dependent])
    assert result.status == RunStatus.FAILED
    assert result.outcomes["subnet.bad"].status == "failed"
    assert result.outcomes["subnet.bad"].error is not None
    assert result.outcomes["subnet.bad"].error.code == "NetcfgSubnetRangeOutsideVnet"
    assert result.outcomes["pip.after-bad"].status == "not_started"
    assert all(result.outcomes[s.key].status == "succeeded" for s in steps)
    state = json.loads(Path(cfg.state_path).read_text())
    assert state["steps"]["subnet.bad"]["last_error"]["code"] == "NetcfgSubnetRangeOutsideVnet"
    # fix the input and resume: only the failed branch is written
    sim.reset_stats()
    good = SubnetStep("subnet.bad", cfg, cfg.spoke_vnet_name(spoke), "snet-bad", "10.1.99.0/24",
                      (keys.vnet(spoke.name),))
    again = run_up(cfg, [*steps, good, dependent])
    assert again.status == RunStatus.SUCCEEDED
    changed = sorted(k for k, out in again.outcomes.items() if out.changed)
    assert changed == ["pip.after-bad", "subnet.bad"]


def test_fault_storm_converges(sim: Simulator, cfg: Any) -> None:
    sim.set_faults(FaultSpec.parse("429=0.1,500=0.05,drop=0.02,lrofail=0.05"))
    steps = net_steps(cfg, extra_subnets=3)
    result = run_up(cfg, steps)
    assert result.status == RunStatus.SUCCEEDED, {k: str(o.error) for k, o in result.outcomes.items() if o.error}
    injected = sim.stats()["injected"]
    assert sum(injected.values()) > 0
    sim.set_faults(FaultSpec())
    sim.reset_stats()
    assert run_up(cfg, steps).status == RunStatus.SUCCEEDED
    assert writes(sim) == 0


def test_interrupt_checkpoints_the_operation_and_resume_reattaches(cfg: Any, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # A slower clock so the interrupt lands while public IPs are being created.
    with Simulator(time_scale=0.3) as slow:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", slow.ca_path)
        env = {"HUBSPOKE_AZURE_ENDPOINT": slow.endpoint, "HUBSPOKE_STATE_PATH": str(tmp_path / "s.json")}
        from hubspoke_deploy.config import load_config

        c = load_config(Path(__file__).resolve().parents[2] / "config/examples/sandbox.toml", env=env)
        steps: list[Step] = [foundation_steps(c)[0]]
        steps.append(PublicIpStep("pip.slow", c, "pip-slow", requires=(keys.RG,)))
        cancel = threading.Event()
        seen: list[dict[str, Any]] = []

        def on_event(e: dict[str, Any]) -> None:
            seen.append(e)
            if e["event"] == "step_applying" and e["step"] == "pip.slow":
                threading.Timer(0.3, cancel.set).start()

        first = run_up(c, steps, cancel=cancel, on_event=on_event)
        assert first.status == RunStatus.INTERRUPTED
        doc = json.loads((tmp_path / "s.json").read_text())
        assert doc["steps"]["pip.slow"]["lro"]["kind"] == "put"
        assert "Bearer" not in json.dumps(doc)
        puts_before = slow.stats()["methods"].get("PUT", 0)
        events: list[dict[str, Any]] = []
        second = run_up(c, steps, on_event=events.append)
        assert second.status == RunStatus.SUCCEEDED
        assert any(e["event"] == "lro_reattached" and e["step"] == "pip.slow" for e in events)
        assert slow.stats()["methods"].get("PUT", 0) == puts_before  # nothing re-sent
        doc = json.loads((tmp_path / "s.json").read_text())
        assert "lro" not in doc["steps"]["pip.slow"]
        pip = slow.get_resource(second.outcomes["pip.slow"].resource_id or "")
        assert pip is not None and pip["properties"]["provisioningState"] == "Succeeded"


def test_graph_errors_are_reported_at_build_time(cfg: Any) -> None:
    steps = net_steps(cfg)
    orphan = PublicIpStep("pip.orphan", cfg, "pip-orphan", requires=("no.such.step",))
    with pytest.raises(ConfigError, match=r"requires unknown step 'no\.such\.step'"), \
            open_session(cfg, command="up", steps=[*steps, orphan]):
        pass
    a = PublicIpStep("cycle.a", cfg, "a", requires=("cycle.b",))
    b = PublicIpStep("cycle.b", cfg, "b", requires=("cycle.a",))
    with pytest.raises(ConfigError, match="dependency cycle"), open_session(cfg, command="up", steps=[a, b]):
        pass


def test_corrupt_state_is_a_clear_error_and_left_untouched(sim: Simulator, cfg: Any) -> None:
    path = Path(cfg.state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for content in (b"{not json", b'{"schema_version": 99, "steps": {}}'):
        path.write_bytes(content)
        with pytest.raises(StateCorrupt):
            run_up(cfg, net_steps(cfg))
        assert path.read_bytes() == content
    assert writes(sim) == 0


def test_changed_input_rewrites_only_that_step(sim: Simulator, cfg: Any) -> None:
    steps = net_steps(cfg)
    assert run_up(cfg, steps).status == RunStatus.SUCCEEDED
    sim.reset_stats()
    changed = [s if s.key != keys.firewall_pip(2) else
               PublicIpStep(keys.firewall_pip(2), cfg, "pip-fw-2", zones=["1", "2", "3"]) for s in steps]
    # same desired state: still nothing
    assert run_up(cfg, changed).status == RunStatus.SUCCEEDED
    assert writes(sim) == 0
    # a tag drift made behind the tool's back is repaired with one write to that resource
    rid = next(s for s in steps if s.key == keys.firewall_pip(1)).resource_id()
    from hubspoke_deploy.orchestrator.clients import Clients
    from hubspoke_deploy.simulator import SimulatorCredential

    clients = Clients(SimulatorCredential(), cfg.subscription_id, sim.endpoint,
                      "https://management.azure.com/.default", connection_verify=sim.ca_path)
    net = clients.get("network")
    net.public_ip_addresses.update_tags(cfg.resource_group, "pip-fw-1", {"tags": {"owner": "someone-else"}})
    sim.reset_stats()
    result = run_up(cfg, steps)
    assert [k for k, o in result.outcomes.items() if o.changed] == [keys.firewall_pip(1)]
    assert sim.get_resource(rid)["tags"]["owner"] == "platform-team"  # type: ignore[index]


def test_timings_are_recorded(sim: Simulator, cfg: Any) -> None:
    start = time.monotonic()
    result = run_up(cfg, net_steps(cfg))
    assert all(0 <= o.duration_s <= time.monotonic() - start for o in result.outcomes.values())


def test_failed_provisioning_state_is_drift_that_up_repairs(sim: Simulator, cfg: Any) -> None:
    """Terraform does not notice a resource Azure left in provisioningState Failed; we repair it."""
    from hubspoke_deploy.orchestrator.clients import Clients, to_json
    from hubspoke_deploy.simulator import SimulatorCredential

    steps = net_steps(cfg)
    assert run_up(cfg, steps).status == RunStatus.SUCCEEDED
    net = Clients(SimulatorCredential(), cfg.subscription_id, sim.endpoint, "https://management.azure.com/.default",
                  connection_verify=sim.ca_path, polling_interval=0.01).get("network")
    pip = to_json(net.public_ip_addresses.get(cfg.resource_group, "pip-fw-1"))
    sim.set_faults(FaultSpec.parse("lrofail=1.0"))
    with pytest.raises(Exception, match=r"RetryableError|retry"):
        net.public_ip_addresses.begin_create_or_update(cfg.resource_group, "pip-fw-1", {
            "location": pip["location"], "sku": pip["sku"], "zones": pip.get("zones"), "tags": pip.get("tags"),
            "properties": {"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"}}).result()
    sim.set_faults(FaultSpec())
    assert sim.get_resource(pip["id"])["properties"]["provisioningState"] == "Failed"  # type: ignore[index]
    with open_session(cfg, command="plan", steps=steps, lock=False) as session:
        plan = session.engine.plan()
    entry = next(e for e in plan.entries if e.key == keys.firewall_pip(1))
    assert entry.action.value == "update"
    assert [c.path for c in entry.changes] == ["properties.provisioningState"]
    assert [e.key for e in plan.entries if e.action.value != "no-op"] == [keys.firewall_pip(1)]
    sim.reset_stats()
    result = run_up(cfg, steps)
    assert [k for k, o in result.outcomes.items() if o.changed] == [keys.firewall_pip(1)]
    assert sim.get_resource(pip["id"])["properties"]["provisioningState"] == "Succeeded"  # type: ignore[index]


def test_unusable_continuation_token_falls_back_to_polling_the_resource(
    cfg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token that no longer works (expired, or from an older SDK) is not a reason to send the
    write again: the resource itself is polled until it settles."""
    with Simulator(time_scale=0.3) as slow:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", slow.ca_path)
        env = {"HUBSPOKE_AZURE_ENDPOINT": slow.endpoint, "HUBSPOKE_STATE_PATH": str(tmp_path / "s.json")}
        from hubspoke_deploy.config import load_config

        c = load_config(Path(__file__).resolve().parents[2] / "config/examples/sandbox.toml", env=env)
        steps: list[Step] = [foundation_steps(c)[0], PublicIpStep("pip.slow", c, "pip-slow", requires=(keys.RG,))]
        cancel = threading.Event()

        def on_event(e: dict[str, Any]) -> None:
            if e["event"] == "step_applying" and e["step"] == "pip.slow":
                threading.Timer(0.3, cancel.set).start()

        assert run_up(c, steps, cancel=cancel, on_event=on_event).status == RunStatus.INTERRUPTED
        path = tmp_path / "s.json"
        doc = json.loads(path.read_text())
        doc["steps"]["pip.slow"]["lro"]["token"] = "bm90IGEgdG9rZW4="  # "not a token"
        path.write_text(json.dumps(doc))
        puts = slow.stats()["methods"].get("PUT", 0)
        result = run_up(c, steps)
        assert result.status == RunStatus.SUCCEEDED
        assert slow.stats()["methods"].get("PUT", 0) == puts
        pip = slow.get_resource(result.outcomes["pip.slow"].resource_id or "")
        assert pip is not None and pip["properties"]["provisioningState"] == "Succeeded"
