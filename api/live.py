"""What ``up`` and ``down`` show while they run, and where their log records go.

On a terminal (stderr is a TTY): a rich live view redrawn on a timer (not on step events, so
elapsed times tick during a ten-minute firewall create) -- one row per step in flight with its
operation and elapsed time, and an overall bar with done / total, the run's elapsed time and an
estimate of what is left from the steps' typical durations. Above it, one concise line per step
outcome. Log records go to a file (``--log-file``; default next to the file state, or in
``.hubspoke/``) unless ``-v``, which puts them on the screen.

Without a terminal (CI): no view; log records on stderr as lines (JSON unless ``--log-format
console``), one per step outcome, plus -- like terraform's ``Still creating... [10m0s elapsed]``
-- a ``still`` record every 30 s (``HUBSPOKE_STILL_INTERVAL`` seconds) per step still in flight,
so a pipeline log shows that a long operation is alive.

rich and structlog are imported lazily: ``--help`` does not pay for them.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

#: Seconds between two ``still`` lines of one in-flight step without a terminal (terraform: 10 s).
STILL_INTERVAL_ENV = "HUBSPOKE_STILL_INTERVAL"
DEFAULT_STILL_INTERVAL_S = 30.0
#: How often the terminal view is redrawn (rich's refresh thread).
REFRESH_PER_SECOND = 4.0

# What the in-flight row says the step is doing, by engine event / action.
_APPLYING = {"create": "creating", "update": "updating", "replace": "replacing", "delete": "deleting"}
# The one-line outcome of a step: past tense of its action (and a symbol, as in the plan).
_DONE_WORDS = {
    "create": ("+", "created"),
    "update": ("~", "updated"),
    "replace": ("-/+", "replaced"),
    "no-op": ("=", "unchanged"),
    "delete": ("-", "deleted"),
    "keep": ("=", "kept"),
}
# The order of the summary's counts.
SUMMARY_ORDER = ("created", "updated", "replaced", "unchanged", "deleted", "kept", "failed", "interrupted",
                 "not started")


def still_interval(env: Mapping[str, str] | None = None) -> float:
    """``HUBSPOKE_STILL_INTERVAL`` (seconds, > 0), else 30."""
    raw = (env if env is not None else os.environ).get(STILL_INTERVAL_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_STILL_INTERVAL_S
    return value if value > 0 else DEFAULT_STILL_INTERVAL_S


def fmt_duration(seconds: float) -> str:
    """terraform's way: ``9s``, ``1m5s``, ``10m0s``, ``1h2m0s``; tenths below ten seconds."""
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f}s"
    s = int(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def outcome_word(status: str, action: str | None) -> str:
    """What a step's outcome is called in the summary: created / updated / unchanged / deleted..."""
    if status == "failed":
        return "failed"
    if status == "interrupted" or action == "interrupted":
        return "interrupted"
    if status == "not_started":
        return "not started"
    if status == "kept":
        return "kept"
    if status == "deleted":
        return "deleted" if action == "delete" else "unchanged"  # already gone
    return _DONE_WORDS.get(str(action), ("?", str(action)))[1]


def outcome_counts(steps: Iterable[Any]) -> dict[str, int]:
    """``{"created": 40, "updated": 1, "unchanged": 14, ...}`` over StepResults (only non-zero,
    in :data:`SUMMARY_ORDER`)."""
    counts: dict[str, int] = {}
    for s in steps:
        word = outcome_word(str(s.status), getattr(s, "action", None))
        counts[word] = counts.get(word, 0) + 1
    return {w: counts[w] for w in (*SUMMARY_ORDER, *sorted(set(counts) - set(SUMMARY_ORDER))) if w in counts}


# --------------------------------------------------------------------------- logging


class LogSink:
    """Where structlog's lines go: a file, the live view's console (printed above the view), or
    stderr."""

    def __init__(self) -> None:
        self.console: Any = None
        self.file: IO[str] | None = None
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            if self.file is not None:
                self.file.write(text)
            elif self.console is not None:
                if text.strip():  # print() sends the newline in a write of its own
                    self.console.print(text.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
            else:
                sys.stderr.write(text)
        return len(text)

    def flush(self) -> None:
        with self.lock:
            if self.file is not None:
                self.file.flush()
            elif self.console is None:
                sys.stderr.flush()

    def open_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 -- closed by close_file

    def close_file(self) -> None:
        with self.lock:
            if self.file is not None:
                self.file.close()
                self.file = None


LOG_SINK = LogSink()


class LazyLog:
    """The run's structlog logger, configured (and structlog, with rich behind its console
    renderer, imported) on the first line logged: nothing is logged before the run's first
    ARM request, so the import is not paid before it."""

    def __init__(self, args: argparse.Namespace, *, to_file: bool = False) -> None:
        self._args = args
        self._to_file = to_file
        self._log: Any = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        with self._lock:
            if self._log is None:
                self._log = configure_structlog(self._args, to_file=self._to_file)
        return getattr(self._log, name)


def configure_structlog(args: argparse.Namespace, *, to_file: bool = False) -> Any:
    import logging

    import structlog
    from hubspoke_deploy.orchestrator.redact import structlog_processor

    # A log file is read by tools: JSON unless console is asked for.
    default = "json" if to_file or not sys.stderr.isatty() else "console"
    fmt = getattr(args, "log_format", None) or default
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    level = logging.DEBUG if (getattr(args, "verbose", None) or 0) > 0 else logging.INFO
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=LOG_SINK),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    return structlog.get_logger("hubspoke_deploy")


def default_log_file(cfg: Any) -> Path:
    """Next to the file state (``.hubspoke/<name>.state.json`` -> ``.hubspoke/<name>.log``);
    ``.hubspoke/<name>.log`` with the blob backend."""
    name = str(getattr(cfg, "name", None) or "hubspoke")
    state = getattr(cfg, "state", None)
    if state is not None and getattr(state, "backend", "file") == "file":
        raw = getattr(state, "path", None)
        path = Path(str(raw)) if raw else Path(".hubspoke") / f"{name}.state.json"
        text = str(path)
        if "{name}" in text or "{deployment}" in text:
            path = Path(text.replace("{name}", name).replace("{deployment}", name))
        folder = path if path.is_dir() or text.endswith(("/", os.sep)) else path.parent
        return folder / f"{name}.log"
    return Path(".hubspoke") / f"{name}.log"


# --------------------------------------------------------------------------- the run's state


@dataclass
class _InFlight:
    key: str
    name: str
    started: float
    operation: str
    note: str = ""
    next_still: float = 0.0


@dataclass
class RunState:
    """What the view shows, updated by engine events (any thread) and read by the renderer."""

    total: int
    typical: dict[str, float]
    requires: dict[str, tuple[str, ...]]
    command: str = "up"
    started: float = field(default_factory=time.monotonic)
    done: set[str] = field(default_factory=set)
    running: dict[str, _InFlight] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # seconds taken and typical seconds of the steps that wrote something: their ratio scales the
    # estimate to this cloud (Azure: about 1; the simulator: about its time scale)
    taken_s: float = 0.0
    typical_s: float = 0.0
    pruning: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def speed(self) -> float:
        """Weighted by typical duration, so the long operations that make the estimate count most."""
        return self.taken_s / self.typical_s if self.typical_s > 0 else 1.0

    def estimate_left(self, now: float) -> float | None:
        """Seconds left on the longest remaining chain of typical durations (scaled by the speed
        seen so far); None when the steps are not known (an orphan-only prune)."""
        if not self.typical:
            return None
        f = self.speed()
        finish: dict[str, float] = {}

        def left(k: str, seen: frozenset[str]) -> float:
            if k in finish:
                return finish[k]
            if k in self.done or k not in self.typical or k in seen:
                return 0.0
            own = self.typical[k] * f
            fl = self.running.get(k)
            if fl is not None:
                own = max(own - (now - fl.started), 0.0)
            before = max((left(d, seen | {k}) for d in self.requires.get(k, ())), default=0.0)
            finish[k] = before + own
            return finish[k]

        return max((left(k, frozenset()) for k in self.typical), default=0.0)


# --------------------------------------------------------------------------- the view


class RunView:
    """The ``on_event`` callback of a CLI run: feeds :class:`RunState`, prints outcomes, and
    shows the live view (terminal) or the ``still`` lines (no terminal)."""

    def __init__(
        self,
        log: Any,
        *,
        tty: bool,
        total: int,
        typical: Mapping[str, float] | None = None,
        requires: Mapping[str, Iterable[str]] | None = None,
        command: str = "up",
        outcome_lines: bool = True,
        interval: float | None = None,
        stream: IO[str] | None = None,
    ) -> None:
        self.log = log
        self.tty = tty
        self.outcome_lines = outcome_lines and tty
        self.state = RunState(total=total, typical=dict(typical or {}),
                              requires={k: tuple(v) for k, v in (requires or {}).items()}, command=command)
        self.interval = interval if interval is not None else still_interval()
        self.key_width = min(max((len(k) for k in self.state.typical), default=20), 48)
        self.live: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if tty:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=stream or sys.stderr, force_terminal=True)
            self.live = Live(console=console, get_renderable=self.render, refresh_per_second=REFRESH_PER_SECOND,
                             transient=True, redirect_stdout=False, redirect_stderr=False)
            self.live.start()
            LOG_SINK.console = console
        else:
            self._ticker = threading.Thread(target=self._tick, name="still-lines", daemon=True)
            self._ticker.start()

    # -- events ---------------------------------------------------------------------
    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        step = str(event.get("step", ""))
        st = self.state
        now = time.monotonic()
        line: str | None = None
        with st.lock:
            if kind == "run_started":
                st.total = max(st.total, int(event.get("steps") or 0))
            elif kind == "prune_started":
                st.pruning = True
                st.total += int(event.get("orphans") or 0)
            elif kind == "step_started":
                deleting = st.command == "down" or st.pruning
                rid = str(event.get("resource_id") or "")
                st.running[step] = _InFlight(step, rid.rstrip("/").rsplit("/", 1)[-1], now,
                                             "deleting" if deleting else "reading",
                                             next_still=now + self.interval)
            elif kind == "step_applying":
                fl = st.running.get(step)
                if fl is not None:
                    fl.operation = _APPLYING.get(str(event.get("action")), str(event.get("action")))
            elif kind == "step_waiting":
                fl = st.running.get(step)
                if fl is not None:
                    fl.operation = f"waiting for {event.get('what') or 'another operation'}"
            elif kind == "lro_reattached":
                fl = st.running.get(step)
                if fl is not None:
                    verb = "delete" if event.get("kind") == "delete" else "write"
                    fl.operation = f"waiting for the {verb} operation (re-attached)"
            elif kind == "retry":
                fl = st.running.get(step)
                if fl is not None:
                    fl.note = f"retry {event.get('attempt')} ({event.get('code') or 'transient error'})"
            elif kind in ("step_finished", "step_skipped"):
                fl = st.running.pop(step, None)
                st.done.add(step)
                status = str(event.get("status") or ("not_started" if kind == "step_skipped" else ""))
                action = event.get("action")
                word = outcome_word(status, None if action is None else str(action))
                st.counts[word] = st.counts.get(word, 0) + 1
                duration = float(event.get("duration_s") or 0.0)
                typical = st.typical.get(step)
                if event.get("changed") and typical and duration > 0:
                    st.taken_s += duration
                    st.typical_s += typical
                line = self._outcome_line(step, fl.name if fl else "", word, duration, event)
        self._log_event(kind, event)
        if line is not None and self.outcome_lines and self.live is not None:
            self.live.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _outcome_line(self, step: str, name: str, word: str, duration: float, event: Mapping[str, Any]) -> str | None:
        """One line per step outcome; unchanged steps are counted in the bar, not listed."""
        if word == "unchanged":
            return None
        symbol = {"created": "+", "updated": "~", "replaced": "-/+", "deleted": "-", "kept": "=",
                  "failed": "x", "interrupted": "!", "not started": "."}.get(word, "?")
        text = f"{symbol:>3} {word:<11} {step:<{self.key_width}} {name}"
        if word in ("failed",):
            err = event.get("error") or {}
            if isinstance(err, Mapping):
                text += f"  [{err.get('code')}] {str(err.get('message') or '')[:200]}"
        elif word == "not started":
            text += f"  (blocked by {', '.join(event.get('because') or ())})"
        else:
            text += f"  {fmt_duration(duration)}"
        return text

    def _log_event(self, kind: Any, event: Mapping[str, Any]) -> None:
        """The canonical log record of each outcome (file or screen, see the module doc)."""
        if kind == "step_finished":
            names: tuple[str, ...] = ("step", "resource_id", "action", "changed", "duration_s", "attempts", "status")
            if event.get("status") == "interrupted":
                # stopped mid-step: no outcome to report, the operation is checkpointed
                names = ("step", "resource_id", "duration_s", "status")
            fields = {k: event.get(k) for k in names}
            if event.get("status") == "interrupted":
                fields["action"] = "interrupted"
            if event.get("error"):
                self.log.error("step", **fields, error=event["error"])
            else:
                self.log.info("step", **fields)
        elif kind == "step_skipped":
            self.log.warning("step", step=event.get("step"), status="not_started", blocked_by=event.get("because"))
        elif kind == "retry":
            self.log.info("retry", **{k: v for k, v in event.items() if k != "event"})
        elif kind in ("lro_reattached", "step_waiting"):
            self.log.info(str(kind), **{k: v for k, v in event.items() if k != "event"})

    # -- no terminal: "still" lines ----------------------------------------------------
    def _tick(self) -> None:
        wait = min(1.0, self.interval / 4)
        while not self._stop.wait(wait):
            self.still_lines(time.monotonic())

    def still_lines(self, now: float) -> list[dict[str, Any]]:
        """Log (and return) a ``still`` record for each step in flight whose next one is due."""
        due: list[dict[str, Any]] = []
        with self.state.lock:
            for fl in self.state.running.values():
                if now >= fl.next_still:
                    elapsed = now - fl.started
                    fl.next_still = now + self.interval
                    due.append({"step": fl.key, "operation": fl.operation, "elapsed": fmt_duration(elapsed),
                                "elapsed_s": round(elapsed, 1),
                                "message": f"{fl.key}: Still {fl.operation}... [{fmt_duration(elapsed)} elapsed]"})
        for fields in due:
            self.log.info("still", **fields)
        return due

    # -- terminal: the view ---------------------------------------------------------------
    def render(self) -> Any:
        """The view as of now (called by rich's refresh thread, several times a second)."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        st = self.state
        now = time.monotonic()
        with st.lock:
            rows = sorted(st.running.values(), key=lambda fl: fl.started)
            done, total = len(st.done), max(st.total, len(st.done))
            elapsed = now - st.started
            left = st.estimate_left(now)
            speed = st.speed()
            rows_view = [(fl.key, fl.name, fl.operation, fl.note, now - fl.started,
                          st.typical.get(fl.key, 0.0) * speed) for fl in rows]
        height = self.live.console.size.height if self.live is not None else 24
        room = max(3, height - 4)
        table = Table.grid(padding=(0, 2))
        for width in (40, 28, None, None):
            table.add_column(no_wrap=True, overflow="ellipsis", max_width=width)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(no_wrap=True)
        for key, name, op, note, t, typ in rows_view[:room]:
            typ_text = f"typically ~{fmt_duration(typ)}" if typ >= 10 else ""
            table.add_row(Text(key, style="bold"), Text(name, style="dim"), Text(op, style="cyan"),
                          Text(note, style="yellow"), Text(fmt_duration(t)), Text(typ_text, style="dim"))
        if not rows_view and done == 0:
            table.add_row(Text("reading what Azure has", style="dim"), Text(""), Text(""), Text(""), Text(""),
                          Text(""))
        more = len(rows_view) - room
        bar = Table.grid(padding=(0, 1))
        bar.add_column(width=30)
        bar.add_column(no_wrap=True)
        est = f"  est. {fmt_duration(left)} left" if left is not None and done < total else ""
        bar.add_row(ProgressBar(total=float(total or 1), completed=float(done), width=30),
                    Text(f"{done}/{total} steps  {len(rows_view)} in flight  elapsed {fmt_duration(elapsed)}{est}"))
        parts: list[Any] = [table]
        if more > 0:
            parts.append(Text(f"  ... and {more} more in flight", style="dim"))
        parts.append(bar)
        return Group(*parts)

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
        if self.live is not None:
            LOG_SINK.console = None
            self.live.stop()


def step_estimates(
    steps: Iterable[Any], quick: Iterable[str] = ()
) -> tuple[dict[str, float], dict[str, tuple[str, ...]]]:
    """Typical seconds and requirements of each step (``graph -o json``'s table); steps in
    ``quick`` (the plan's no-ops) count as a read of about a second."""
    fast = set(quick)
    typical: dict[str, float] = {}
    requires: dict[str, tuple[str, ...]] = {}
    for s in steps:
        typical[s.key] = 1.0 if s.key in fast else float(s.typical_seconds())
        requires[s.key] = tuple(s.requires)
    return typical, requires



# --------------------------------------------------------------------------- prompts


def confirm(question: str, yes: bool) -> bool:
    """Ask on the terminal -- the question on stderr, never on stdout (``up -o json > out.json``
    keeps the file one JSON document) -- and read the answer from stdin. Without a terminal on
    stdin, refuse (exit 2) and name ``--yes``."""
    from hubspoke_deploy.errors import UsageError

    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(f"{question} — not on a terminal: pass --yes to confirm non-interactively")
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer:  # end of input: no
        sys.stderr.write("\n")
        return False
    return answer.strip().lower() in ("y", "yes")
