#!/usr/bin/env python3
"""Example runbook: deploy (or tear down) with the hubspoke_deploy library.

Written for an Azure Automation Python 3.10 runbook (or any scheduler) running as a
managed identity. Import the ``hubspoke-deploy`` package and its dependencies into the
Automation account's Python 3.10 runtime environment, then start the runbook with the
config path as its first parameter::

    runbook_example.py /path/to/prod.toml [--action plan|up|down] [--parallelism 16]

The credential comes from the config (``[azure] credential = "managed-identity"``, with
``managed_identity_client_id`` for a user-assigned identity), and every ``[azure]`` /
``[state]`` key can be overridden by ``HUBSPOKE_<SECTION>_<KEY>`` environment variables: the
same file serves the runbook, a pipeline and a rehearsal on the simulator. The state should be
in a blob (``[state] backend = "blob"``): its lease stops this runbook and a pipeline from
running at the same time (exit 3, holder named).

The runbook logs one line per finished step (Automation shows stdout as the job's output),
prints a JSON summary (status, counts, outputs) as its last line and exits with the CLI's
exit codes: 0 ok, 1 failed but resumable (start the runbook again), 2 config error, 3 state
locked by another run, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

import hubspoke_deploy as hd

log = logging.getLogger("runbook")


def on_event(event: hd.Event) -> None:
    """Progress callback: called from the engine's worker threads."""
    kind = event["event"]
    if kind == "step_finished":
        error = event.get("error")
        log.info("%-8s %-10s %-34s %5.1fs%s", event["status"], event["action"], event["step"],
                 event["duration_s"], f"  [{error['code']}] {error['message']}" if error else "")
    elif kind == "step_skipped":
        log.warning("not started: %s (blocked by %s)", event["step"], ", ".join(event.get("because") or []))
    elif kind == "retry":
        log.info("retry %s after %s (attempt %s)", event["step"], event["code"], event["attempt"])


def run(config_path: str, action: str, parallelism: int | None) -> dict[str, Any]:
    cfg = hd.load_config(config_path)  # ConfigError before any Azure call
    log.info("deployment %s: %s (credential: %s)", cfg.name, action, cfg.azure.credential)
    preview = hd.plan(cfg, parallelism=parallelism, destroy=(action == "down"))
    log.info("plan: %s", preview.counts())
    if action == "plan":
        return {"action": action, "status": "succeeded", "plan": preview.counts()}
    if action == "up" and not preview.has_changes:
        log.info("nothing to change")
        return {"action": action, "status": "succeeded", "summary": {}, "outputs": hd.outputs(cfg)}
    fn = hd.up if action == "up" else hd.down
    result = fn(cfg, parallelism=parallelism, on_event=on_event)  # raises on failure
    return {"action": action, "status": result.status.value, "summary": result.summary(),
            "duration_s": round(result.duration_s, 1), "outputs": result.outputs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="hubspoke-deploy runbook")
    parser.add_argument("config", help="path of the deployment config (TOML)")
    parser.add_argument("--action", choices=["plan", "up", "down"], default="up")
    parser.add_argument("--parallelism", type=int, default=None)
    args = parser.parse_args(argv)
    # The runbook (not the library) owns logging.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout)
    try:
        summary = run(args.config, args.action, args.parallelism)
    except hd.DeploymentFailed as err:
        log.error("%s", err)
        for failure in err.failures:
            log.error("step %s failed: [%s] %s", failure.step, failure.code, failure.message)
        summary = {"action": args.action, "status": "failed",
                   "failures": [{"step": f.step, "code": f.code} for f in err.failures]}
        print(json.dumps(summary))
        return err.exit_code
    except hd.HubspokeError as err:  # ConfigError, StateLocked, Interrupted...
        log.error("%s: %s", type(err).__name__, err)
        print(json.dumps({"action": args.action, "status": "error", "error": type(err).__name__}))
        return err.exit_code
    print(json.dumps(summary, default=str))
    return hd.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
