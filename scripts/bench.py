#!/usr/bin/env python3
"""Benchmarks of hubspoke-deploy on the ARM simulator (issue 9). Prints a table, writes JSON.

    .venv/bin/python scripts/bench.py [--time-scale 0.002] [--spokes 1 10 50 100]
                                      [--json bench-results/latest.json] [--compare old.json] [--quick]
    .venv/bin/python scripts/bench.py --plan-only [--spokes 100] [--repeat 5]   # plan time rows only
    .venv/bin/python scripts/bench.py --start-only [--repeat 5]                 # CLI start row only
    .venv/bin/python scripts/bench.py --regions-only                               # two regions vs one (issue 18)

Measured in one run, on the simulator's realistic latency table at a fixed time scale:

* makespan vs the critical path (the longest dependency path through ``LATENCY_S``), for the
  default parallelism and for ``--parallelism 1`` (the sequential script);
* ARM requests by kind for a fresh deploy (vs one write per resource), a no-op re-run and
  ``--trust-state``;
* resume cost after a SIGKILL at 50% of the makespan, vs an uninterrupted run's second half;
* overheads: CLI start to first request, checkpoint bytes and ms per write, peak memory;
* scale (1/10/50/100 spokes): plan time, makespan ratio, requests, checkpoint size; and the same
  deployment under ARM's throttling model (writes bucket 200, refill 10/s) at two concurrencies.

``--compare old.json`` prints this run's figures as ratios of a saved run's.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from hubspoke_deploy.config import load_config_dict
from hubspoke_deploy.orchestrator.engine import EngineOptions, RunStatus, build_graph, longest_path
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import LATENCY_S, FaultSpec, Simulator
from hubspoke_deploy.steps.architecture import build_steps

REPO = Path(__file__).resolve().parent.parent
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]


# ----------------------------------------------------------------------------- helpers

def sandbox_data() -> dict[str, Any]:
    with SANDBOX.open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    return data


def with_spokes(n: int) -> dict[str, Any]:
    """The sandbox with ``n`` spokes: spoke 0 is the AKS spoke (10.1.0.0/16), spokes 1..n-1 get
    10.<i+1>.0.0/16 (non-overlapping, outside the hub's range)."""
    data = copy.deepcopy(sandbox_data())
    for i in range(1, n):
        data["spokes"].append({"name": f"app{i:03d}", "address_space": [f"10.{i + 1}.0.0/16"]})
    return data


def env_for(sim: Simulator, state: Path) -> dict[str, str]:
    return {
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(state),
    }


def load(data: dict[str, Any], sim: Simulator, state: Path) -> Any:
    return load_config_dict(data, env=env_for(sim, state))


def critical_path_s(cfg: Any, time_scale: float, wrote: set[str] | None = None) -> tuple[float, list[str], int]:
    """Longest dependency path through the simulator's real latencies. With ``wrote`` (the steps
    that sent a write), steps that had nothing to do (agent pools created in the cluster's own
    PUT) weigh nothing: the bound of the work actually done."""
    steps = build_graph(build_steps(cfg))

    def weight(step: Any) -> float:
        if wrote is not None and step.key not in wrote:
            return 0.0
        return float(LATENCY_S.get(step.resource_type, 0.0)) * time_scale

    total, path = longest_path(steps, weights=weight)
    return total, path, len(steps)


def requests(sim: Simulator) -> dict[str, int]:
    st = sim.stats()
    m: dict[str, int] = st["methods"]
    polls = int(st["polls"])
    return {
        "GET": int(m.get("GET", 0)) - polls,
        "PUT": int(m.get("PUT", 0)),
        "PATCH": int(m.get("PATCH", 0)),
        "POST": int(m.get("POST", 0)),
        "DELETE": int(m.get("DELETE", 0)),
        "polls": polls,
        "total": int(st["total"]),
        "throttled": int(st["throttled"]),
    }


def writes(r: dict[str, int]) -> int:
    return r["PUT"] + r["PATCH"] + r["POST"] + r["DELETE"]


def engine_up(cfg: Any, **opts: Any) -> tuple[Any, Any]:
    """``up`` through the engine; returns (result, store stats)."""
    with open_session(cfg, command="up", options=EngineOptions(**opts)) as session:
        result = session.engine.up()
        return result, session.store.stats


def engine_plan(cfg: Any) -> float:
    with open_session(cfg, command="plan", lock=False) as session:
        start = time.perf_counter()
        session.engine.plan()
        return time.perf_counter() - start


def cli_env(sim: Simulator, state: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(env_for(sim, state))
    env["REQUESTS_CA_BUNDLE"] = sim.ca_path
    return env


def read_log(path: Path, start: int = 0) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open("rb") as fh:
        lines = [line for line in fh if line.endswith(b"\n")]
    return [json.loads(line) for line in lines[start:]]


def log_len(path: Path) -> int:
    return len(read_log(path))


# ----------------------------------------------------------------------------- measurements

def bench_makespan(sim: Simulator, tmp: Path, ts: float, figures: dict[str, Any], rows: list[list[str]]) -> None:
    sim.reset()
    cfg = load(sandbox_data(), sim, tmp / "mk.json")
    result, stats = engine_up(cfg)
    assert result.status == RunStatus.SUCCEEDED, result.summary()
    bound, path, nsteps = critical_path_s(cfg, ts, {k for k, o in result.outcomes.items() if o.changed})
    fresh = requests(sim)
    makespan = result.duration_s
    sim.reset_stats()
    noop, _ = engine_up(cfg)
    noop_req = requests(sim)
    sim.reset_stats()
    trust, _ = engine_up(cfg, trust_state=True)
    trust_req = requests(sim)
    sim.reset()
    cfg1 = load(sandbox_data(), sim, tmp / "mk1.json")
    seq, _ = engine_up(cfg1, parallelism=1)
    figures["makespan"] = {
        "steps": nsteps,
        "critical_path_s": round(bound, 3),
        "critical_path_len": len(path),
        "wall_s": round(makespan, 3),
        "ratio": round(makespan / bound, 3),
        "sequential_wall_s": round(seq.duration_s, 3),
        "sequential_ratio": round(seq.duration_s / bound, 3),
    }
    figures["api"] = {
        "fresh": fresh, "fresh_writes": writes(fresh), "min_writes": nsteps,
        "noop": noop_req, "noop_writes": writes(noop_req), "noop_gets_per_resource": round(noop_req["GET"] / nsteps, 3),
        "noop_wall_s": round(noop.duration_s, 3),
        "trust_state": trust_req, "trust_state_total": trust_req["total"],
        "trust_state_wall_s": round(trust.duration_s, 3),
    }
    figures["checkpoint"] = {
        "writes": stats.writes,
        "bytes_per_write": round(stats.bytes_written / max(1, stats.writes)),
        "ms_per_write": round(1000 * stats.seconds_writing / max(1, stats.writes), 3),
        "final_bytes": (tmp / "mk.json").stat().st_size,
    }
    m, a, c = figures["makespan"], figures["api"], figures["checkpoint"]
    rows += [
        ["makespan", f"{nsteps} steps; critical path {m['critical_path_s']:.2f}s ({m['critical_path_len']} steps)",
         f"wall {m['wall_s']:.2f}s = {m['ratio']:.2f}x bound (goal <= 1.05)"],
        ["makespan --parallelism 1", "the sequential script", f"wall {m['sequential_wall_s']:.2f}s = "
         f"{m['sequential_ratio']:.2f}x bound"],
        ["fresh deploy requests", _fmt_req(fresh), f"{a['fresh_writes']} writes vs minimum {nsteps} "
         f"({a['fresh_writes'] / nsteps:.2f}x)"],
        ["no-op re-run", _fmt_req(noop_req), f"{a['noop_writes']} writes (goal 0), "
         f"{a['noop_gets_per_resource']:.2f} GET/resource (goal <= 1), {a['noop_wall_s']:.2f}s"],
        ["--trust-state re-run", _fmt_req(trust_req), f"{a['trust_state_total']} requests (goal 0), "
         f"{a['trust_state_wall_s']:.3f}s"],
        ["checkpoint (file)", f"{c['writes']} writes in a fresh deploy", f"{c['bytes_per_write']} B/write, "
         f"{c['ms_per_write']:.2f} ms/write, final {c['final_bytes']} B"],
    ]


def _fmt_req(r: dict[str, int]) -> str:
    return " ".join(f"{k}={r[k]}" for k in ("GET", "PUT", "PATCH", "DELETE", "polls") if r[k]) or "none"


def bench_cli(sim: Simulator, tmp: Path, figures: dict[str, Any], rows: list[list[str]]) -> None:
    """Through the CLI: start-up to first request, peak memory, resume after a kill at 50%."""
    log = Path(sim._request_log or "")
    sim.reset()
    env = cli_env(sim, tmp / "cli-ref.json")
    start_mark = log_len(log)
    t0 = time.time()
    p = subprocess.run([*CLI, "up", "--yes", "--config", str(SANDBOX), "--log-format", "json"], env=env,
                       capture_output=True, text=True, cwd=REPO)
    t_end = time.time()
    assert p.returncode == 0, p.stderr[-2000:]
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ref = read_log(log, start_mark)
    first = min(e["time"] for e in ref)
    last = max(e["time"] for e in ref)
    total = t_end - t0
    # 50% of the makespan: the midpoint between the run's first and last ARM request
    half = first + (last - first) / 2
    second_half = [e for e in ref if e["time"] >= half]
    second_half_s = t_end - half  # what an uninterrupted run still spends after that point
    # killed at 50% of the makespan, then resumed
    sim.reset()
    env = cli_env(sim, tmp / "cli-kill.json")
    proc = subprocess.Popen([*CLI, "up", "--yes", "--config", str(SANDBOX), "--log-format", "json"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    time.sleep(half - t0)
    proc.kill()
    proc.wait()
    time.sleep(0.1)
    mark = log_len(log)
    t1 = time.time()
    p2 = subprocess.run([*CLI, "up", "--yes", "--config", str(SANDBOX), "--log-format", "json"], env=env,
                        capture_output=True, text=True, cwd=REPO)
    resume_s = time.time() - t1
    assert p2.returncode == 0, p2.stderr[-2000:]
    resumed = read_log(log, mark)
    kinds = Counter("poll" if ("/operations/" in e["path"].lower() or "/operationresults/" in e["path"].lower())
                    else e["method"] for e in resumed)
    figures["cli"] = {
        "start_to_first_request_s": round(first - t0, 3),
        "wall_s": round(total, 3),
        "peak_rss_mb": round(peak_mb, 1),
        "second_half_s": round(second_half_s, 3),
        "second_half_requests": len(second_half),
        "resume_s": round(resume_s, 3),
        "resume_requests": len(resumed),
        "resume_by_kind": dict(kinds),
        "resume_time_ratio": round(resume_s / second_half_s, 3),
        "resume_request_ratio": round(len(resumed) / max(1, len(second_half)), 3),
    }
    c = figures["cli"]
    rows += [
        ["CLI start to first request", "python -m hubspoke_deploy.cli up", f"{c['start_to_first_request_s']:.2f}s "
         f"(whole CLI run {c['wall_s']:.2f}s)"],
        ["peak memory", "largest CLI process (max RSS)", f"{c['peak_rss_mb']:.0f} MB"],
        ["resume after SIGKILL at 50%", f"{c['resume_requests']} requests {dict(kinds)}",
         f"{c['resume_s']:.2f}s vs uninterrupted 2nd half {c['second_half_s']:.2f}s / "
         f"{c['second_half_requests']} requests ({c['resume_time_ratio']:.2f}x time, "
         f"{c['resume_request_ratio']:.2f}x requests)"],
    ]


def bench_scale(sim: Simulator, tmp: Path, ts: float, spokes: list[int], figures: dict[str, Any],
                rows: list[list[str]]) -> None:
    out: dict[str, Any] = {}
    for n in spokes:
        sim.reset()
        state = tmp / f"scale-{n}.json"
        cfg = load(with_spokes(n), sim, state)
        t = time.perf_counter()
        steps = build_steps(cfg)
        build_s = time.perf_counter() - t
        plan_s = engine_plan(cfg)
        sim.reset_stats()
        bound, _path, _nsteps = critical_path_s(cfg, ts)
        result, _ = engine_up(cfg)
        assert result.status == RunStatus.SUCCEEDED, result.summary()
        r = requests(sim)
        # a fresh plan reads one resource group; the plan of the deployed environment reads everything
        replan_s = engine_plan(cfg)
        out[str(n)] = {
            "steps": len(steps), "build_s": round(build_s, 3), "plan_s": round(plan_s, 3),
            "replan_s": round(replan_s, 3),
            "wall_s": round(result.duration_s, 3), "critical_path_s": round(bound, 3),
            "ratio": round(result.duration_s / bound, 3), "requests": r["total"], "writes": writes(r),
            "checkpoint_bytes": state.stat().st_size,
        }
        o = out[str(n)]
        rows.append([f"scale {n} spoke(s)", f"{o['steps']} steps, plan {o['plan_s']:.2f}s fresh / "
                     f"{o['replan_s']:.2f}s deployed",
                     f"wall {o['wall_s']:.2f}s = {o['ratio']:.2f}x bound, {o['requests']} requests, "
                     f"checkpoint {o['checkpoint_bytes'] / 1024:.0f} KB"])
    if len(spokes) >= 2:
        a, b = out[str(spokes[0])], out[str(spokes[-1])]
        k = spokes[-1] / spokes[0]
        growth = {f: round(b[f] / max(a[f], 1e-9), 2) for f in ("steps", "plan_s", "replan_s", "wall_s",
                                                                 "requests", "checkpoint_bytes")}
        out["growth"] = {"spokes_x": k, **growth}
        rows.append([f"growth {spokes[0]} -> {spokes[-1]} spokes", f"{k:.0f}x spokes",
                     ", ".join(f"{f} {v}x" for f, v in growth.items())])
    figures["scale"] = out


def bench_throttle(sim: Simulator, tmp: Path, n: int, figures: dict[str, Any], rows: list[list[str]]) -> None:
    """ARM's token buckets on (writes 200, refill 10/s): default concurrency vs a lower fixed one."""
    out: dict[str, Any] = {}
    for label, par, adaptive in (("fixed-32", 32, False), ("adaptive-32", 32, True), ("fixed-8", 8, False)):
        sim.reset()
        sim.set_faults(FaultSpec(throttle=True))
        cfg = load(with_spokes(n), sim, tmp / f"throttle-{label}.json")
        events: list[dict[str, Any]] = []
        def on_event(e: dict[str, Any], events: list[dict[str, Any]] = events) -> None:
            if e.get("event") == "retry":
                events.append(e)  # list.append is atomic

        opts = EngineOptions(parallelism=par, adaptive=adaptive)
        with open_session(cfg, command="up", options=opts, on_event=on_event) as s:
            result = s.engine.up()
            limiter = s.engine.limiter.stats() if s.engine.limiter is not None else {}
        sim.set_faults(FaultSpec())
        r = requests(sim)
        out[label] = {"status": result.status.value, "wall_s": round(result.duration_s, 3),
                      "throttled_429": r["throttled"], "requests": r["total"], "step_retries": len(events),
                      "writes": writes(r), "limiter": limiter}
        o = out[label]
        rows.append([f"throttled, {n} spokes, {label}" + (f" (limit fell to {limiter['lowest']})" if limiter else ""),
                     f"{o['requests']} requests, {o['writes']} writes",
                     f"{o['status']} in {o['wall_s']:.2f}s, {o['throttled_429']} answered 429, "
                     f"{o['step_retries']} step retries"])
    figures["throttle"] = out


def start_to_first_request(sim: Simulator, tmp: Path, repeat: int) -> list[float]:
    """``up`` through the CLI, killed as soon as its first ARM request reaches the simulator:
    the "CLI start to first request" figure alone, ``repeat`` times."""
    log = Path(sim._request_log or "")
    out: list[float] = []
    for i in range(repeat):
        sim.reset()
        env = cli_env(sim, tmp / f"start-{i}.json")
        mark = log_len(log)
        t0 = time.time()
        proc = subprocess.Popen([*CLI, "up", "--yes", "--config", str(SANDBOX), "--log-format", "json"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
        try:
            while proc.poll() is None and time.time() - t0 < 60:
                seen = read_log(log, mark)
                if seen:
                    out.append(min(e["time"] for e in seen) - t0)
                    break
                time.sleep(0.005)
        finally:
            proc.kill()
            proc.wait()
    return out


def quick_rows(args: argparse.Namespace, tmp: Path, sim: Simulator, figures: dict[str, Any],
               rows: list[list[str]]) -> None:
    """``--plan-only`` / ``--start-only``: one figure, ``--repeat`` times (min / median / max)."""

    def spread(xs: list[float]) -> str:
        xs = sorted(xs)
        return f"median {xs[len(xs) // 2]:.3f}s (min {xs[0]:.3f}, max {xs[-1]:.3f}, n={len(xs)})"

    if args.plan_only:
        out: dict[str, Any] = {}
        for n in args.spokes:
            sim.reset()
            cfg = load(with_spokes(n), sim, tmp / f"plan-{n}.json")
            engine_plan(cfg)  # the SDK packages imported once, as in the full bench's scale rows
            times = []
            for _ in range(args.repeat):
                sim.reset_stats()
                times.append(engine_plan(cfg))
            r = requests(sim)
            out[str(n)] = {"plan_s": sorted(times)[len(times) // 2], "plan_s_all": [round(t, 3) for t in times],
                           "requests": r["total"]}
            rows.append([f"plan {n} spoke(s)", f"{len(build_steps(cfg))} steps, {r['total']} requests per plan",
                         spread(times)])
        figures["plan_only"] = out
    if args.start_only:
        times = start_to_first_request(sim, tmp, args.repeat)
        figures["start_only"] = {"start_to_first_request_s": sorted(times)[len(times) // 2],
                                 "all": [round(t, 3) for t in times]}
        rows.append(["CLI start to first request", "python -m hubspoke_deploy.cli up", spread(times)])


# ----------------------------------------------------------------------------- output

def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def table(rows: list[list[str]]) -> str:
    out = ["| figure | what | result |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(out)


def flatten(d: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        out[prefix] = float(d)
    return out


def compare(now: dict[str, Any], old: dict[str, Any]) -> str:
    a, b = flatten(now.get("figures", now)), flatten(old.get("figures", old))
    lines = ["| figure | saved | now | now/saved |", "|---|---|---|---|"]
    for k in sorted(set(a) & set(b)):
        ratio = "n/a" if b[k] == 0 else f"{a[k] / b[k]:.2f}"
        lines.append(f"| {k} | {b[k]:g} | {a[k]:g} | {ratio} |")
    return "\n".join(lines)


def _with_sim(ts: float, tmp: Path, fn: Callable[[Simulator], None], *, request_log: bool = True) -> None:
    """``fn`` on a simulator of its own. ``request_log=False`` for the rows that do not read the
    request log: writing it (a JSON line and a flush per request, in this process) is an
    instrument's cost, not the deployment's."""
    log = str(tmp / "requests-makespan.jsonl") if request_log else None
    with Simulator(time_scale=ts, seed=1, request_log=log) as s:
        saved = os.environ.get("REQUESTS_CA_BUNDLE")
        os.environ["REQUESTS_CA_BUNDLE"] = s.ca_path
        try:
            fn(s)
        finally:
            if saved is not None:
                os.environ["REQUESTS_CA_BUNDLE"] = saved


# The chain nothing can shorten (issue 15): writes to one firewall policy are serial, the
# firewall needs its policy and the rules AKS needs, the cluster's nodes need those rules and
# the firewall to boot: policy -> one rule collection group -> firewall -> cluster.
PHYSICAL_CHAIN = (
    "Microsoft.Network/firewallPolicies",
    "Microsoft.Network/firewallPolicies/ruleCollectionGroups",
    "Microsoft.Network/azureFirewalls",
    "Microsoft.ContainerService/managedClusters",
)


def prod_data() -> dict[str, Any]:
    data = tomllib.loads((REPO / "config" / "examples" / "prod.toml").read_text())
    data["azure"] = {"endpoint": "public", "credential": "default"}
    data["state"] = {"backend": "file"}
    return data


def bench_chain(sim: Simulator, tmp: Path, ts: float, figures: dict[str, Any], rows: list[list[str]]) -> None:
    """The prod example's fresh deploy against the physical chain, and the sequential script."""
    chain = sum(float(LATENCY_S[t]) for t in PHYSICAL_CHAIN) * ts
    sim.reset()
    result, _stats = engine_up(load(prod_data(), sim, tmp / "chain.json"))
    assert result.status == RunStatus.SUCCEEDED, result.summary()
    sim.reset()
    seq, _ = engine_up(load(prod_data(), sim, tmp / "chain1.json"), parallelism=1)
    assert seq.status == RunStatus.SUCCEEDED, seq.summary()
    figures["chain"] = {
        "steps": len(result.outcomes), "chain_s": round(chain, 3), "wall_s": round(result.duration_s, 3),
        "ratio": round(result.duration_s / chain, 3), "sequential_wall_s": round(seq.duration_s, 3),
        "sequential_ratio": round(seq.duration_s / chain, 3),
    }
    c = figures["chain"]
    rows.append(["physical chain (prod)", f"{c['steps']} steps; policy -> rule group -> firewall -> AKS = "
                 f"{c['chain_s']:.2f}s", f"wall {c['wall_s']:.2f}s = {c['ratio']:.2f}x chain (goal <= 1.05); "
                 f"--parallelism 1: {c['sequential_wall_s']:.2f}s = {c['sequential_ratio']:.2f}x"])


def bench_regions(sim: Simulator, tmp: Path, ts: float, figures: dict[str, Any], rows: list[list[str]]) -> None:
    """Issue 18: the two-region example's fresh deploy against the same config with region #1 only
    (the regions run in parallel: goal <= 1.1x)."""
    multi = tomllib.loads((REPO / "config" / "examples" / "multi-region.toml").read_text())
    single = copy.deepcopy(multi)
    single.pop("regions")
    walls: dict[str, float] = {}
    for label, data in (("single", single), ("multi", multi)):
        sim.reset()
        result, _ = engine_up(load(data, sim, tmp / f"regions-{label}.json"))
        assert result.status == RunStatus.SUCCEEDED, result.summary()
        walls[label] = result.duration_s
    ratio = walls["multi"] / walls["single"]
    figures["regions"] = {"single_wall_s": round(walls["single"], 3), "two_regions_wall_s": round(walls["multi"], 3),
                          "ratio": round(ratio, 3)}
    rows.append(["two regions (multi-region.toml)", f"westeurope + northeurope vs westeurope alone "
                 f"({walls['single']:.2f}s)", f"wall {walls['multi']:.2f}s = {ratio:.2f}x single region "
                 "(goal <= 1.1)"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-scale", type=float, default=0.002)
    ap.add_argument("--makespan-time-scale", type=float, default=0.02,
                    help="time scale of the makespan and API-economy runs: large enough that the simulated "
                    "latencies, not the per-request cost of a loopback HTTPS server in Python, dominate")
    ap.add_argument("--spokes", type=int, nargs="+", default=[1, 10, 50, 100])
    ap.add_argument("--throttle-spokes", type=int, default=100)
    ap.add_argument("--json", default="bench-results/latest.json")
    ap.add_argument("--compare", default=None, help="a saved JSON: print this run's figures as ratios of it")
    ap.add_argument("--quick", action="store_true", help="spokes 1 and 10 only, throttle with 10 spokes")
    ap.add_argument("--plan-only", action="store_true", help="only the plan time of --spokes (default 100)")
    ap.add_argument("--start-only", action="store_true", help="only CLI start to first request")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each --plan-only / --start-only figure")
    ap.add_argument("--regions-only", action="store_true", help="only the two-region vs single-region makespan")
    args = ap.parse_args(argv)
    if args.quick:
        args.spokes, args.throttle_spokes = [1, 10], 10
    only = args.plan_only or args.start_only or args.regions_only
    if only and args.json == ap.get_default("json"):
        args.json = "bench-results/quick.json"  # the full run's figures stay as they are
    if args.plan_only and "--spokes" not in (argv if argv is not None else sys.argv):
        args.spokes = [100]
    figures: dict[str, Any] = {}
    rows: list[list[str]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hubspoke-bench-") as tmpdir:
        tmp = Path(tmpdir)
        with Simulator(time_scale=args.time_scale, seed=1, request_log=str(tmp / "requests.jsonl")) as sim:
            os.environ["REQUESTS_CA_BUNDLE"] = sim.ca_path
            regions: tuple[str, Callable[[], None]] = (
                "regions", lambda: _with_sim(args.makespan_time_scale, tmp,
                                             lambda s: bench_regions(s, tmp, args.makespan_time_scale, figures, rows),
                                             request_log=False))
            stages: list[tuple[str, Callable[[], None]]] = [regions] if args.regions_only else [
                ("quick", lambda: quick_rows(args, tmp, sim, figures, rows)),
            ] if only else [
                regions,
                ("chain", lambda: _with_sim(args.makespan_time_scale, tmp,
                                            lambda s: bench_chain(s, tmp, args.makespan_time_scale, figures,
                                                                  rows), request_log=False)),
                ("makespan/api", lambda: _with_sim(args.makespan_time_scale, tmp,
                                                    lambda s: bench_makespan(s, tmp, args.makespan_time_scale,
                                                                             figures, rows))),
                ("cli", lambda: bench_cli(sim, tmp, figures, rows)),
                ("scale", lambda: bench_scale(sim, tmp, args.time_scale, args.spokes, figures, rows)),
                ("throttle", lambda: bench_throttle(sim, tmp, args.throttle_spokes, figures, rows)),
            ]
            for name, fn in stages:
                t = time.monotonic()
                fn()
                print(f"[bench] {name}: {time.monotonic() - t:.1f}s", file=sys.stderr, flush=True)
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(["peak memory (bench process)", f"engine + simulator in one process, up to {max(args.spokes)} spokes",
                 f"{peak_self:.0f} MB"])
    doc = {"machine": machine(), "time_scale": args.time_scale, "bench_s": round(time.monotonic() - started, 1),
           "figures": {**figures, "peak_rss_bench_mb": round(peak_self, 1)}}
    m = doc["machine"]
    print(f"hubspoke-deploy benchmarks, {m['date']}, {m['nproc']} x {m['cpu']}, Python {m['python']}, "
          f"time scale {args.time_scale} (1 s of Azure = {args.time_scale * 1000:g} ms; makespan rows at "
          f"{args.makespan_time_scale})")
    print(table(rows))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**doc, "table": rows}, indent=2))
    print(f"\nJSON written to {out} (bench took {doc['bench_s']}s)")
    if args.compare:
        old = json.loads(Path(args.compare).read_text())
        print("\nCompared with", args.compare)
        print(compare(doc, old))
    return 0


if __name__ == "__main__":
    sys.exit(main())
