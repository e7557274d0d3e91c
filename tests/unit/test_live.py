"""The pieces of the live view that need no terminal: durations, the summary's words, the
estimate from typical durations, the "still" records and where the log file goes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hubspoke_deploy.live import (
    RunState,
    RunView,
    _InFlight,
    default_log_file,
    fmt_duration,
    outcome_counts,
    still_interval,
)


def test_durations_read_like_terraform() -> None:
    assert [fmt_duration(s) for s in (0.04, 9.96, 12, 65, 600, 3725)] == \
        ["0.0s", "10.0s", "12s", "1m5s", "10m0s", "1h2m5s"]


def test_summary_counts_outcomes_not_statuses() -> None:
    steps = [SimpleNamespace(status="succeeded", action=a) for a in ("create", "create", "update", "no-op")]
    steps += [SimpleNamespace(status="deleted", action="delete"), SimpleNamespace(status="deleted", action="no-op"),
              SimpleNamespace(status="failed", action="create"), SimpleNamespace(status="not_started", action=None)]
    assert outcome_counts(steps) == {"created": 2, "updated": 1, "unchanged": 2, "deleted": 1, "failed": 1,
                                     "not started": 1}


def test_estimate_is_the_longest_remaining_chain_scaled_by_the_speed_seen() -> None:
    st = RunState(total=4, typical={"rg": 5, "policy": 10, "fw": 600, "aks": 600},
                  requires={"policy": ("rg",), "fw": ("policy",), "aks": ("fw",)})
    assert st.estimate_left(0.0) == 1215
    st.done |= {"rg", "policy"}
    st.running["fw"] = _InFlight("fw", "afw", started=0.0, operation="creating")
    assert st.estimate_left(100.0) == 500 + 600
    st.taken_s, st.typical_s = 1.5, 15.0  # this cloud is ten times faster than the table
    assert st.estimate_left(10.0) == 50 + 60


class Log:
    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, **fields})

    error = warning = info


def test_still_records_once_per_interval_per_step_in_flight() -> None:
    log = Log()
    view = RunView(log, tty=False, total=2, interval=30.0)
    try:
        view({"event": "step_started", "step": "fw", "resource_id": "/x/afw-hub"})
        view({"event": "step_applying", "step": "fw", "action": "create"})
        started = view.state.running["fw"].started
        assert view.still_lines(started + 29) == []
        (due,) = view.still_lines(started + 600)
        assert due["message"] == "fw: Still creating... [10m0s elapsed]"
        assert view.still_lines(started + 601) == []  # the next one is 30 s later
        assert len(view.still_lines(started + 631)) == 1
        view({"event": "step_finished", "step": "fw", "status": "succeeded", "action": "create", "changed": True,
              "duration_s": 640.0})
        assert view.still_lines(started + 2000) == []
    finally:
        view.stop()
    assert [x["event"] for x in log.lines] == ["still", "still", "step"]


def test_still_interval_comes_from_the_environment() -> None:
    assert still_interval({"HUBSPOKE_STILL_INTERVAL": "1.5"}) == 1.5
    assert still_interval({"HUBSPOKE_STILL_INTERVAL": "soon"}) == 30.0
    assert still_interval({}) == 30.0


def test_log_file_goes_next_to_the_file_state() -> None:
    def cfg(backend: str, path: str | None) -> Any:
        return SimpleNamespace(name="prod", state=SimpleNamespace(backend=backend, path=path))

    assert default_log_file(cfg("file", None)) == Path(".hubspoke/prod.log")
    assert default_log_file(cfg("file", "/var/lib/hs/prod.state.json")) == Path("/var/lib/hs/prod.log")
    assert default_log_file(cfg("blob", None)) == Path(".hubspoke/prod.log")


def test_rows_say_what_the_step_is_doing() -> None:
    view = RunView(Log(), tty=False, total=3, command="up")
    try:
        view({"event": "step_started", "step": "vnet", "resource_id": "/x/vnet-hub"})
        assert view.state.running["vnet"].operation == "reading"
        view({"event": "step_waiting", "step": "vnet", "what": "another operation on it (updating)"})
        assert view.state.running["vnet"].operation == "waiting for another operation on it (updating)"
        view({"event": "step_applying", "step": "vnet", "action": "update"})
        assert view.state.running["vnet"].operation == "updating"
        view({"event": "step_started", "step": "fw", "resource_id": "/x/afw"})
        view({"event": "lro_reattached", "step": "fw", "kind": "put"})
        assert view.state.running["fw"].operation == "waiting for the write operation (re-attached)"
        view({"event": "prune_started", "orphans": 1})
        view({"event": "step_started", "step": "old", "resource_id": "/x/old"})
        assert view.state.running["old"].operation == "deleting" and view.state.total == 4
    finally:
        view.stop()
