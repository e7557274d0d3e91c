"""The ``hubspoke-deploy`` command line: a thin layer over the library.

Azure SDKs, pydantic models and rich are imported lazily so ``--help`` answers fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from hubspoke_deploy.errors import (
    EXIT_CHANGES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_USAGE,
    ConfigError,
    DeploymentFailed,
    HubspokeError,
    Interrupted,
    UsageError,
)

EXIT_CODES_HELP = """exit codes:
  0    success
  1    deployment failed (resumable: run the same command again); verify: a required flow is not carried
  2    usage or configuration error (nothing was changed)
  3    state locked by another run
  4    plan --detailed-exitcode: changes pending
  130  interrupted (state is safe: run again to resume)
  141  output pipe closed by its reader (e.g. `status | head`)

environment:
  HUBSPOKE_CONFIG: the config file when --config is not given, e.g. export HUBSPOKE_CONFIG=hubspoke.toml.
  HUBSPOKE_<SECTION>_<KEY> overrides [azure] and [state] keys, e.g. HUBSPOKE_AZURE_ENDPOINT,
  HUBSPOKE_AZURE_CREDENTIAL, HUBSPOKE_STATE_BACKEND, HUBSPOKE_STATE_PATH.
  REQUESTS_CA_BUNDLE: CA bundle for a custom endpoint (Azure Stack Hub, the simulator).
  HUBSPOKE_STILL_INTERVAL: seconds between "Still creating..." lines of up/down without a terminal (30).
"""


LOG_FILE_HELP = ("where the log records go (default on a terminal without -v: next to the file state, "
                 "e.g. .hubspoke/NAME.log); without a terminal they go to stderr")


class _Parser(argparse.ArgumentParser):
    """argparse, plus "did you mean" for a mistyped command."""

    def error(self, message: str) -> NoReturn:
        match = re.search(r"invalid choice: '?([^' ]+)'? \(choose from (.*)\)", message)
        if match:
            import difflib

            choices = re.findall(r"[\w-]+", match.group(2))
            close = difflib.get_close_matches(match.group(1), choices, n=1, cutoff=0.5)
            if close:
                message += f"; did you mean '{close[0]}'?"
        super().error(message)


def _common(default: Any) -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument("--config", "-c", metavar="FILE", default=default,
                        help="deployment config (TOML); default: $HUBSPOKE_CONFIG")
    common.add_argument("--output", "-o", choices=["text", "json"], default=default, help="output format")
    common.add_argument("--log-format", choices=["console", "json"], default=default,
                        help="log format (default: JSON; console on the screen with -v on a terminal)")
    common.add_argument("-v", "--verbose", action="count", default=default, help="more detail")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common(None)
    # Sub-commands accept the global options too (after the command), without
    # resetting values given before it.
    sub_common = _common(argparse.SUPPRESS)

    parser = _Parser(
        prog="hubspoke-deploy",
        description="Deploy a private AKS cluster behind Azure Firewall in a hub-spoke network.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[sub_common],
                              argument_default=argparse.SUPPRESS)

    val = add("validate", "check the config offline and report every problem (errors and warnings) at once")
    val.add_argument("--strict", action="store_true", default=False,
                     help="fail (exit 2) on warnings too, e.g. keys the config ignores")
    add("schema", "print the JSON Schema of the config file (for editors: see the README's editor set-up)")
    g = add("graph", "print the step DAG (mermaid or DOT) with the critical path marked")
    g.add_argument("--format", choices=["mermaid", "dot"], default="mermaid",
                   help="diagram language (default: mermaid)")
    p = add("plan", "show what up (or down with --destroy) would change")
    p.add_argument("--detailed-exitcode", action="store_true", default=False,
                   help="exit 0 when nothing changes, 4 when changes are pending")
    p.add_argument("--refresh-only", action="store_true", default=False, help="report drift only")
    p.add_argument("--destroy", action="store_true", default=False, help="show what down would delete")
    p.add_argument("--parallelism", type=int, default=None, help="resources read at once (default 32)")
    p.add_argument("--out", "-out", dest="out", default=None, metavar="FILE",
                   help="save the plan to FILE (JSON, no secret); `up FILE` applies it only if nothing changed")
    u = add("up", "create or update the deployment (resumes a stopped run)")
    u.add_argument("plan_file", nargs="?", default=None, metavar="PLAN_FILE",
                   help="apply a plan saved by `plan -out FILE`, refused (exit 2, nothing changed) if the config, "
                        "the state or Azure changed since; no confirmation asked (same as --plan)")
    u.add_argument("--plan", dest="plan_opt", default=None, metavar="PLAN_FILE", help="same as PLAN_FILE")
    u.add_argument("--yes", "-y", action="store_true", default=False, help="do not ask for confirmation")
    u.add_argument("--parallelism", type=int, default=None, help="steps run at once (default 32)")
    u.add_argument("--trust-state", action="store_true", default=False,
                   help="skip reading resources the checkpoint records as done with unchanged inputs")
    u.add_argument("--allow-replace", action="store_true", default=False,
                   help="allow deleting and re-creating resources whose immutable properties changed")
    u.add_argument("--log-file", default=None, metavar="FILE", help=LOG_FILE_HELP)
    u.add_argument("--region", default=None, metavar="NAME", help=REGION_HELP)
    d = add("down", "delete what this deployment owns, nothing else")
    d.add_argument("--region", default=None, metavar="NAME", help=REGION_HELP)
    d.add_argument("--yes", "-y", action="store_true", default=False,
                   help="do not ask for confirmation (needed without a terminal, e.g. in CI)")
    d.add_argument("--parallelism", type=int, default=None, help="steps run at once (default 32)")
    d.add_argument("--log-file", default=None, metavar="FILE", help=LOG_FILE_HELP)
    v = add("verify", "prove the live network carries every flow the architecture needs "
                      "(exit 0 all allowed, 1 otherwise)")
    v.add_argument("--from", dest="flow_from", default=None, metavar="SUBNET_OR_IP",
                   help="ask about one flow: its source (subnet id, vnet/subnet, subnet name or IP)")
    v.add_argument("--to", dest="flow_to", default=None, metavar="HOST:PORT[/PROTO]",
                   help="its destination, e.g. login.microsoftonline.com:443/https or 10.1.9.5:443")
    add("status", "per-step state from the checkpoint (no Azure call)")
    add("outputs", "what an operator needs next: ids, FQDNs, IPs, commands")
    un = add("unlock", "show who holds the state lock; with LOCK_ID, break the lock of that (dead) run")
    un.add_argument("lock_id", nargs="?", default=None, metavar="LOCK_ID",
                    help="the holder's run id, as named by `unlock` or the 'state is locked' error")
    un.add_argument("--force", action="store_true", default=False,
                    help="break the lock even though its run is still alive on this host")
    un.add_argument("--yes", "-y", action="store_true", default=False,
                    help="do not ask for confirmation (needed without a terminal)")
    s = add("simulator", "run the ARM simulator standalone; prints the export lines to use it from another shell")
    s.add_argument("--port", type=int, default=8443, help="HTTPS port on 127.0.0.1 (0: any free port; default 8443)")
    s.add_argument("--time-scale", type=float, default=None,
                   help="multiplier of Azure's real durations (default 0.002: a 10-minute AKS create takes 1.2 s)")
    s.add_argument("--faults", default=None, metavar="SPEC",
                   help='inject faults, e.g. "429=0.1,500=0.05,drop=0.02,lrofail=0.05,throttle=on"')
    s.add_argument("--seed", type=int, default=None, help="random seed of the fault injection (default 0)")
    s.add_argument("--request-log", default=None, metavar="FILE",
                   help="append one JSON line per ARM request to FILE")
    s.add_argument("--state-file", default=None, metavar="FILE",
                   help="keep the simulated Azure in this file across restarts")
    s.add_argument("--known-principal", action="append", default=None,
                   help="object id of a principal (user, group) role assignments may name; repeatable")
    return parser


class _Printer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.json = getattr(args, "output", None) == "json"
        self.verbose = int(getattr(args, "verbose", None) or 0)
        self.tty = sys.stdout.isatty()

    def out(self, text: str = "") -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def err(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def data(self, value: Any) -> None:
        self.out(json.dumps(value, indent=2, sort_keys=False, default=str))


def _configure_logging(args: argparse.Namespace, log_file: Any = None) -> Any:
    """The run's logger (configured on first use); with ``log_file``, its records go there."""
    from hubspoke_deploy.live import LOG_SINK, LazyLog

    if log_file is not None:
        try:
            LOG_SINK.open_file(log_file)
        except OSError as err:
            raise UsageError(f"cannot write the log file {log_file}: {err.strerror}; pass --log-file FILE "
                             "(or -v to log on the screen)") from err
    return LazyLog(args, to_file=log_file is not None)


def _load(args: argparse.Namespace) -> Any:
    path = getattr(args, "config", None) or os.environ.get("HUBSPOKE_CONFIG")
    if not path:
        raise UsageError("no config given: pass --config FILE (or set HUBSPOKE_CONFIG)")
    from hubspoke_deploy.library import load_config

    return load_config(path)


def _confirm(question: str, yes: bool) -> bool:
    from hubspoke_deploy.live import confirm

    return confirm(question, yes)


def _print_plan(pr: _Printer, plan: Any, title: str) -> None:
    from hubspoke_deploy.planview import print_plan

    print_plan(pr.out, pr.data, pr.json, plan, title, pr.verbose)


def _install_signals(cancel: threading.Event, pr: _Printer) -> None:
    def handler(signum: int, _frame: Any) -> None:
        if cancel.is_set():
            os._exit(EXIT_INTERRUPTED)  # second signal: state is already safe
        cancel.set()
        pr.err("interrupt: finishing checkpoint writes; in-flight operations are saved (again to exit now)")

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _graph_data(steps: Any) -> dict[str, Any]:
    """``graph -o json``: every step with its requires and typical duration, and the critical path."""
    from hubspoke_deploy.orchestrator.engine import build_graph, longest_path

    graph = build_graph(steps)
    total, path = longest_path(graph)
    on_path = set(path)
    return {
        "critical_path": path,
        "critical_path_seconds": round(total, 1),
        "steps": [{"step": k, "requires": sorted(s.requires), "typical_seconds": round(s.typical_seconds(), 1),
                   "resource_id": s.resource_id(), "critical": k in on_path}
                  for k, s in sorted(graph.items())],
    }


def _unlock(args: argparse.Namespace, pr: _Printer, store: Any) -> int:
    """Like ``terraform force-unlock``: name the holder, break only the lock whose id is given,
    and never the lock of a run still alive on this host unless ``--force``."""
    from hubspoke_deploy.orchestrator.stores import holder_alive, holder_words

    holder = store.holder()
    report: dict[str, Any] = {"state": store.describe(), "locked": bool(holder), "holder": holder or None,
                              "unlocked": False}
    if not holder:
        if pr.json:
            pr.data(report)
        else:
            pr.out(f"state is not locked ({store.describe()})")
        return EXIT_OK
    words = holder_words(holder)
    run_id = holder.get("run_id") or ""
    alive = holder_alive(holder)
    report["holder_alive"] = alive

    def refuse(message: str, code: int) -> int:
        if pr.json:
            pr.data({**report, "error": message})
        else:
            pr.out(f"state is locked by {words}")
            pr.err(f"error: {message}")
        return code

    if not args.lock_id:
        return refuse(f"nothing was changed: to break this lock, pass its id: hubspoke-deploy unlock {run_id or '?'}",
                      EXIT_USAGE)
    if args.lock_id != run_id:
        return refuse(f"lock id {args.lock_id!r} does not match the lock held by run {run_id or '(unknown)'}; "
                      "nothing was changed", EXIT_USAGE)
    if alive and not args.force:
        return refuse(f"run {run_id} is still working (pid {holder.get('pid')} is alive on this host): breaking "
                      "its lock would let two runs write the state. Wait for it or stop it (Ctrl-C); "
                      "--force breaks the lock anyway", EXIT_LOCKED)
    where = "" if alive is not None else " (it runs on another host: make sure it is dead)"
    if not pr.json:
        pr.out(f"state is locked by {words}")
    if not _confirm(f"break the lock of run {run_id}{where}?", args.yes):
        pr.err("aborted")
        if pr.json:
            pr.data({**report, "error": "aborted"})
        return EXIT_USAGE
    store.break_lock()
    report["unlocked"] = True
    if pr.json:
        pr.data(report)
    else:
        pr.out(f"lock of run {run_id} broken")
    return EXIT_OK


def _run(args: argparse.Namespace, pr: _Printer) -> int:
    cmd = args.command
    if cmd == "schema":
        from hubspoke_deploy.config import json_schema

        pr.data(json_schema())
        return EXIT_OK
    if cmd == "simulator":
        from hubspoke_deploy.simulator.server import main as sim_main

        argv = ["--port", str(args.port)]
        for flag, value in (("--time-scale", args.time_scale), ("--faults", args.faults),
                            ("--seed", args.seed), ("--request-log", args.request_log),
                            ("--state-file", args.state_file)):
            if value is not None:
                argv += [flag, str(value)]
        for principal in args.known_principal or []:
            argv += ["--known-principal", principal]
        if pr.json:
            argv.append("--json")
        return int(sim_main(argv))
    saved = _saved_plan(args) if cmd == "up" else None
    cfg = _load(args)
    if cmd == "validate":
        warnings = list(getattr(cfg, "warnings", ()))
        failed = bool(warnings) and args.strict
        if pr.json:
            pr.data({"valid": not failed, "strict": args.strict, "warnings": [w.__dict__ for w in warnings]})
        else:
            for w in warnings:
                pr.err(f"warning: {w}")
            if failed:
                pr.err(f"error: {cfg.source or 'config'}: {len(warnings)} warning(s) and --strict")
            else:
                pr.out(f"{cfg.source or 'config'}: valid ({len(warnings)} warning(s))")
        return EXIT_USAGE if failed else EXIT_OK
    if cmd == "graph":
        from hubspoke_deploy.steps.architecture import build_steps

        if pr.json:
            pr.data(_graph_data(build_steps(cfg)))
        else:
            from hubspoke_deploy.orchestrator.graph import render

            pr.out(render(build_steps(cfg), args.format))
        return EXIT_OK
    import hubspoke_deploy.library as lib

    if cmd == "status":
        st = lib.status(cfg)
        if pr.json:
            pr.data(st)
        else:
            pr.out(f"deployment {st['deployment']}  ({st['state']})")
            if st["last_run"]:
                lr = st["last_run"]
                pr.out(f"last run: {lr.get('command')} {lr.get('status', 'running or killed')} "
                       f"started {lr.get('started_at')}")
            if st["teardown"]:
                pr.out(f"torn down at {st['teardown'].get('finished_at')}")
            for k, v in st["steps"].items():
                extra = " (operation in flight)" if v["in_flight"] else ""
                err = f"  [{v['last_error'].get('code')}]" if v.get("last_error") else ""
                pr.out(f"  {v['status']:<10} {k:<34} {v['resource_id'] or ''}{extra}{err}")
        return EXIT_OK
    if cmd == "verify":
        return _verify(args, cfg, pr)
    if cmd == "outputs":
        outs = lib.outputs(cfg)
        if pr.json:
            pr.data(outs)
        else:
            for k, v in outs.items():
                pr.out(f"{k}: {v if not isinstance(v, (dict, list)) else json.dumps(v)}")
        return EXIT_OK
    if cmd == "unlock":
        return _unlock(args, pr, lib._open_store(cfg))
    if cmd == "plan":
        if args.out and (args.destroy or args.refresh_only):
            raise UsageError("plan -out saves a plan for up: it does not go with --destroy or --refresh-only")
        plan = lib.plan(cfg, parallelism=args.parallelism, refresh_only=args.refresh_only, destroy=args.destroy)
        title = "Teardown plan:" if args.destroy else ("Drift:" if args.refresh_only else "Plan:")
        _print_plan(pr, plan, title)
        if args.out:
            from hubspoke_deploy.savedplan import save_plan

            save_plan(args.out, plan, cfg)
            pr.err(f"plan saved to {args.out}; apply exactly this plan with: hubspoke-deploy up {args.out}")
        if args.detailed_exitcode and plan.has_changes:
            return EXIT_CHANGES
        return EXIT_OK
    if cmd in ("up", "down"):
        return _apply(args, cfg, pr, lib, saved)
    raise UsageError(f"unknown command {cmd!r}")


REGION_HELP = ("act on one region of a multi-region config (its name or location): up converges it and the shared "
               "parts it needs; down deletes it (the shared parts only with the last region)")


def _region_target(args: argparse.Namespace, cfg: Any) -> tuple[str | None, Any]:
    """``--region``: the region, and the config whose plan the run carries out."""
    name = getattr(args, "region", None)
    if not name:
        return None, cfg
    from hubspoke_deploy import regional

    region = regional.check_region(cfg, name)
    if args.command == "down" and regional.region_remaining(cfg, region):
        return region, regional.without_region(cfg, region)
    return region, cfg


class _PlanOnTerminal(_Printer):
    """The plan a person approves, as text on stderr, when stdout carries the JSON document."""

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.json = False

    def out(self, text: str = "") -> None:
        self.err(text)


def _apply(args: argparse.Namespace, cfg: Any, pr: _Printer, lib: Any,
           saved: tuple[str, dict[str, Any]] | None = None) -> int:
    """``up`` and ``down``: plan, confirm on the terminal (not when there is nothing to do), run
    with the live view (terminal) or plain lines (CI), then one summary -- or, with ``-o json``,
    exactly one JSON document on stdout. ``saved``: ``up PLAN_FILE`` (approved already: no
    prompt; refused if anything changed since it was saved)."""
    from pathlib import Path

    from hubspoke_deploy.live import RunView, default_log_file, fmt_duration, outcome_counts, step_estimates
    from hubspoke_deploy.steps.architecture import build_steps

    cmd = args.command
    cancel = threading.Event()
    shown = _PlanOnTerminal(args) if pr.json else pr
    plan: Any = None
    region, target = _region_target(args, cfg)  # issue 18: up/down --region NAME (api/regional.py)
    if region and not args.yes:
        last = cmd == "down" and target is cfg  # the last region: down of everything
        if last:
            plan = lib.plan(target, destroy=True)
        elif cmd == "up":
            from hubspoke_deploy import regional

            plan = regional.plan_region(target, region, parallelism=args.parallelism)
        else:
            plan = lib.plan(target, parallelism=args.parallelism)
        _print_plan(shown, plan, f"Plan ({cmd} --region {region}):")
        if plan.has_changes and not _confirm("apply this plan?", False):
            return _aborted(pr, plan)
    elif region:
        pass
    elif cmd == "down":
        plan = lib.plan(cfg, destroy=True)
        if not pr.json or not args.yes:
            _print_plan(shown, plan, "Teardown plan:")
        kept = [i for i in plan.items if i.action == "keep"]
        deletes = sum(1 for i in plan.items if i.action == "delete")
        if deletes and not _confirm(f"delete {deletes} resource(s) (keeping {len(kept)} not owned)?", args.yes):
            return _aborted(pr, plan)
    elif not args.yes and saved is None:
        plan = lib.plan(cfg, parallelism=args.parallelism)
        _print_plan(shown, plan, "Plan:")
        if not plan.has_changes:
            pr.err("No changes: Azure matches the config (nothing to approve).")
        elif not _confirm("apply this plan?", False):
            return _aborted(pr, plan)
    _install_signals(cancel, pr)
    tty = sys.stderr.isatty()
    verbose = (getattr(args, "verbose", None) or 0) > 0
    given = getattr(args, "log_file", None)
    log_path = Path(given) if given else (default_log_file(cfg) if tty and not verbose else None)
    log = _configure_logging(args, log_path)
    steps = build_steps(cfg)
    quick = [i.key for i in plan.items if i.action == "no-op"] if plan is not None and cmd == "up" else []
    typical, requires = step_estimates(steps, quick)
    view = RunView(log, tty=tty, total=len(steps), typical=typical, requires=requires, command=cmd,
                   outcome_lines=log_path is not None)
    try:
        fn: Any = lib.up if cmd == "up" else lib.down
        kwargs: dict[str, Any] = {"parallelism": args.parallelism, "on_event": view, "cancel": cancel}
        if region:
            from functools import partial

            from hubspoke_deploy import regional

            fn = partial(regional.up_region if cmd == "up" else regional.down_region, name=region)
            if cmd == "up":
                kwargs.update(trust_state=args.trust_state, allow_replace=args.allow_replace)
        elif saved is not None:
            from hubspoke_deploy.savedplan import apply_saved_plan

            fn = apply_saved_plan
            kwargs.update(saved=saved[1], path=saved[0], allow_replace=args.allow_replace)
        elif cmd == "up":
            kwargs["trust_state"] = args.trust_state
            kwargs["allow_replace"] = args.allow_replace
        result = fn(cfg, **kwargs)
        log.info("run", command=cmd, status=result.status, duration_s=round(result.duration_s, 3),
                 **result.summary())
    finally:
        view.stop()
        from hubspoke_deploy.live import LOG_SINK

        LOG_SINK.close_file()
        if log_path is not None and not pr.json:
            pr.err(f"log: {log_path}")
    counts = outcome_counts(result.steps.values())
    notes = {k: s.note for k, s in result.steps.items() if getattr(s, "note", None)}
    if pr.json:
        doc: dict[str, Any] = {"status": result.status, "duration_s": round(result.duration_s, 3),
                               "outcomes": counts, "summary": result.summary(), "outputs": result.outputs,
                               "notes": notes}
        if plan is not None:
            doc["plan"] = plan.as_dict()
        pr.data(doc)
        return EXIT_OK
    for key, note in notes.items():
        pr.out(f"note: {key}: {note}")
    words = ", ".join(f"{n} {w}" for w, n in counts.items())
    pr.out(f"{cmd}: {result.status} in {fmt_duration(result.duration_s)}: {words}")
    if cmd == "up" and result.outputs:
        pr.out("Outputs:")
        width = max(len(k) for k in result.outputs)
        for k, v in result.outputs.items():
            pr.out(f"  {k:<{width}} = {v if not isinstance(v, (dict, list)) else json.dumps(v)}")
    return EXIT_OK


def _aborted(pr: _Printer, plan: Any) -> int:
    pr.err("aborted: nothing was changed")
    if pr.json:
        pr.data({"status": "aborted", "plan": plan.as_dict()})
    return EXIT_USAGE


def _saved_plan(args: argparse.Namespace) -> tuple[str, dict[str, Any]] | None:
    """``up PLAN_FILE`` / ``up --plan PLAN_FILE``: the saved plan; its config when none is given."""
    path = args.plan_file or args.plan_opt
    if args.plan_file and args.plan_opt and args.plan_file != args.plan_opt:
        raise UsageError(f"up was given two plans ({args.plan_file} and --plan {args.plan_opt}): pass one")
    if not path:
        return None
    if args.trust_state:
        raise UsageError("up PLAN_FILE reads every resource to check the plan is current: drop --trust-state")
    from hubspoke_deploy.savedplan import load_saved_plan

    doc = load_saved_plan(path)
    if not (getattr(args, "config", None) or os.environ.get("HUBSPOKE_CONFIG")) and doc.get("config_path"):
        args.config = doc["config_path"]
    return path, doc


def _quiet_azure_loggers(args: argparse.Namespace) -> None:
    """The Azure SDKs log through the standard library, which (with no handler configured)
    prints their warnings to stderr: one per credential tried, per request. Errors reach the
    user through our own messages; ``-v`` lets the SDK's lines through."""
    import logging

    if not getattr(args, "verbose", None):
        azure_log = logging.getLogger("azure")
        if not any(isinstance(h, logging.NullHandler) for h in azure_log.handlers):
            azure_log.addHandler(logging.NullHandler())


def _verify(args: argparse.Namespace, cfg: Any, pr: _Printer) -> int:
    flow_from, flow_to = getattr(args, "flow_from", None), getattr(args, "flow_to", None)
    if (flow_from is None) != (flow_to is None):
        raise UsageError("verify --from and --to go together: --from SUBNET_OR_IP --to HOST:PORT[/tcp|udp|http|https]")
    from hubspoke_deploy.verification import verify

    try:
        report = verify(cfg, flow_from=flow_from, flow_to=flow_to)
    except ValueError as err:
        raise UsageError(f"verify: {err}") from err
    if pr.json:
        pr.data(report.as_dict())
    else:
        width = max((len(r.name) for r in report.rows), default=10)
        for r in report.rows:
            mark = "ok  " if r.ok else "FAIL"
            via = f"via {r.rule}" if r.rule else r.reason
            pr.out(f"{mark} {r.name:<{width}}  {r.destination}:{r.port}/{r.protocol}  {r.status}: {via}")
            if not r.ok:
                pr.out(f"       path: {r.path}")
                if r.rule is None and r.reason:
                    pr.out(f"       why:  {r.reason}")
                if r.fix:
                    pr.out(f"       fix:  {r.fix}")
        for f in report.findings:
            if f.get("problem"):
                fix = f" (fix: {f['fix']})" if f.get("fix") else ""
                pr.out(f"FAIL {f['kind']}: {f['subject']}: {f['detail']}{fix}")
        bad = sum(1 for r in report.rows if not r.ok) + sum(1 for f in report.findings if f.get("problem"))
        pr.out(f"{len(report.rows) - sum(1 for r in report.rows if not r.ok)}/{len(report.rows)} flows carried; "
               + ("nothing bypasses the firewall." if bad == 0 else f"{bad} problem(s)."))
    return EXIT_OK if report.ok else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    pr = _Printer(args)
    _quiet_azure_loggers(args)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    try:
        return _run(args, pr)
    except BrokenPipeError:
        # The reader went away (`status | head`): stop writing, without a traceback. Python
        # would report the failed flush of the dead pipe at exit: point stdout at /dev/null.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_PIPE
    except ConfigError as err:
        if pr.json:
            pr.data({"error": "config", "problems": [p.__dict__ for p in err.problems]})
        else:
            pr.err(f"error: {err}")
        return err.exit_code
    except DeploymentFailed as err:
        pr.err(f"error: {err}")
        result = getattr(err, "result", None)
        from hubspoke_deploy.live import outcome_counts

        counts = outcome_counts(result.steps.values()) if result is not None else {}
        if pr.json and result is not None:
            pr.data({"status": result.status, "outcomes": counts, "summary": result.summary(),
                     "failures": [{"step": f.key, "code": f.error.code if f.error else None,
                                   "message": f.error.message if f.error else None} for f in result.failures]})
        elif pr.json:
            pr.data({"status": "failed", "error": str(err)})
        elif result is not None and counts:
            pr.err(f"{result.command}: {result.status}: " + ", ".join(f"{n} {w}" for w, n in counts.items()))
        return err.exit_code
    except Interrupted as err:
        pr.err(f"interrupted: {err}")
        if pr.json:
            pr.data({"status": "interrupted", "error": str(err)})
        return EXIT_INTERRUPTED
    except HubspokeError as err:
        pr.err(f"error: {err}")
        if pr.json:  # -o json: one JSON document on stdout, whatever happened
            pr.data({"error": type(err).__name__, "message": str(err), "exit_code": err.exit_code})
        return err.exit_code
    except KeyboardInterrupt:
        pr.err("interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
