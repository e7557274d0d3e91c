"""What ``up`` shows while it runs (issue 16): a live view that moves on a terminal, "still" lines
without one, prompts that never reach stdout, and no prompt when there is nothing to do.

The CLI runs as a real process, on a pseudo-terminal (``os.openpty``) where a terminal is the
point, against an in-process simulator whose firewall create is slow (its latency raised for the
test), so a step stays in flight long enough to watch; the runs that would wait for it are
interrupted (SIGINT, exit 130) once the test has seen what it came for.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.simulator.providers.base import get_type

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]
FIREWALL = "Microsoft.Network/azureFirewalls"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
DEADLINE_S = 120.0  # a safety net for waits, not a measured assertion


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=16) as s:
        yield s


@pytest.fixture
def env(sim: Simulator, tmp_path: Path) -> dict[str, str]:
    sim.reset()
    full = {k: v for k, v in os.environ.items() if not k.startswith("HUBSPOKE_")}
    full.update({
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json"),
        "REQUESTS_CA_BUNDLE": sim.ca_path,
        "TERM": "xterm-256color",
        "COLUMNS": "200",
        "LINES": "50",
    })
    return full


@pytest.fixture
def slow_firewall(monkeypatch: pytest.MonkeyPatch) -> None:
    """The firewall create takes about a minute of wall clock here (30000 simulated seconds at
    the module's time scale 0.002); everything else stays fast."""
    monkeypatch.setattr(get_type(FIREWALL), "create_latency_s", 30000.0)


def writes(sim: Simulator) -> int:
    m = sim.stats()["methods"]
    return int(m.get("PUT", 0) + m.get("PATCH", 0) + m.get("DELETE", 0))


class Terminal:
    """A process whose stdin and stderr (and stdout, unless ``stdout_pipe``) are a pseudo-terminal
    of 200x50; everything written to it is collected by a reader thread."""

    def __init__(self, args: list[str], env: dict[str, str], *, stdout_pipe: bool = False) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=subprocess.PIPE if stdout_pipe else slave,
                                     stderr=slave, env=env, cwd=REPO)
        os.close(slave)
        self.master = master
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the process closed its side
                return
            if not chunk:
                return
            with self._lock:
                self._buf += chunk

    def text(self) -> str:
        """Everything shown so far, escape sequences removed."""
        with self._lock:
            raw = bytes(self._buf).decode("utf-8", "replace")
        return ANSI.sub("", raw)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        os.close(self.master)


def wait_for(found: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


def seconds(text: str) -> float:
    """``3.4s`` / ``12s`` / ``1m5s`` -> seconds."""
    m = re.fullmatch(r"(?:(\d+)m)?(\d+(?:\.\d+)?)s", text)
    assert m, text
    return int(m.group(1) or 0) * 60 + float(m.group(2))


ROW = re.compile(r"\bfw\s+afw-\S+\s+creating\s+(\d+m\d+s|\d+(?:\.\d)?s)")
BAR = re.compile(r"(\d+)/(\d+) steps\s+(\d+) in flight\s+elapsed (\S+)")


def snapshot(term: Terminal) -> tuple[float, tuple[str, ...]] | None:
    """The firewall row's elapsed time and the bar's counts in the latest frame drawn, once the
    firewall is the only step in flight."""
    text = term.text()
    rows, bars = ROW.findall(text), BAR.findall(text)
    if not rows or not bars or bars[-1][2] != "1":
        return None
    return seconds(rows[-1]), bars[-1][:3]


def test_live_view_ticks_between_step_events(sim: Simulator, env: dict[str, str], tmp_path: Path,
                                             slow_firewall: None) -> None:
    log_file = tmp_path / "up.log"
    term = Terminal([*CLI, "up", "--yes", "--config", str(SANDBOX), "--log-file", str(log_file)], env)
    try:
        first = wait_for(lambda: snapshot(term), "the firewall alone in flight, being created")
        records = log_file.read_text().count("\n")
        # the view is redrawn on a timer: the same frame (same counts, no new log record, so no
        # step event) shows a later elapsed time a moment later
        second = wait_for(lambda: (s := snapshot(term)) and s[0] > first[0] and s, "the elapsed time move")
        assert second[1] == first[1], "a step started or finished between the two reads"
        assert log_file.read_text().count("\n") == records, "a step event was logged between the two reads"
        screen = term.text()
        assert "est. " in screen and "elapsed " in screen
        # concise outcomes on the screen, the log records in the file
        assert re.search(r"\+ created\s+rg\s+rg-sandbox", screen)
        assert "/subscriptions/" not in screen and '"event"' not in screen
        assert '"event": "step"' in log_file.read_text()
        term.proc.send_signal(signal.SIGINT)
        assert term.proc.wait(timeout=DEADLINE_S) == 130
    finally:
        term.close()


def _collect(stream: IO[str], into: list[str]) -> None:
    for line in stream:
        into.append(line)


def test_without_a_terminal_a_still_line_shows_a_long_operation(sim: Simulator, env: dict[str, str],
                                                                slow_firewall: None) -> None:
    env = {**env, "HUBSPOKE_STILL_INTERVAL": "1"}
    proc = subprocess.Popen([*CLI, "up", "--yes", "--config", str(SANDBOX), "--log-format", "json"], env=env,
                            cwd=REPO, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    lines: list[str] = []
    reader = threading.Thread(target=_collect, args=(proc.stderr, lines), daemon=True)
    reader.start()
    try:
        def still_fw() -> list[dict[str, Any]]:
            records = [json.loads(x) for x in list(lines) if x.startswith("{")]
            return [r for r in records if r.get("event") == "still" and r.get("step") == "fw"]

        found = wait_for(still_fw, "a 'still' line for the firewall")
        assert found[0]["operation"] == "creating"
        assert re.fullmatch(r"fw: Still creating\.\.\. \[[0-9.ms]+ elapsed\]", found[0]["message"])
        assert found[0]["elapsed_s"] >= 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=DEADLINE_S) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
    # no live view, no cursor movement: plain lines only
    assert not any("\x1b[" in x for x in lines)


def test_up_json_on_a_terminal_prints_one_document_and_prompts_on_the_terminal(
    sim: Simulator, env: dict[str, str]
) -> None:
    term = Terminal([*CLI, "up", "-o", "json", "--config", str(SANDBOX)], env, stdout_pipe=True)
    try:
        wait_for(lambda: "apply this plan? [y/N]" in term.text(), "the prompt on the terminal")
        assert writes(sim) == 0
        assert "Plan:" in term.text(), "the plan to approve is shown on the terminal"
        term.type("y\n")
        assert term.proc.stdout is not None
        out = term.proc.stdout.read().decode()
        assert term.proc.wait(timeout=DEADLINE_S) == 0, term.text()[-3000:]
    finally:
        term.close()
    doc = json.loads(out)  # exactly one document: json.loads refuses trailing data
    assert "apply this plan" not in out
    assert doc["status"] == "succeeded"
    assert doc["outcomes"]["created"] >= 50
    assert doc["plan"]["has_changes"] is True
    assert doc["outputs"]["firewall_private_ip"]
    assert writes(sim) > 0


def test_up_with_nothing_to_change_exits_0_without_prompting(sim: Simulator, env: dict[str, str]) -> None:
    first = subprocess.run([*CLI, "up", "--yes", "--config", str(SANDBOX)], env=env, cwd=REPO, text=True,
                           capture_output=True, timeout=DEADLINE_S)
    assert first.returncode == 0, first.stderr[-3000:]
    before = writes(sim)
    # stdin is a terminal: a prompt would wait for an answer that never comes
    term = Terminal([*CLI, "up", "--config", str(SANDBOX)], env)
    try:
        code = term.proc.wait(timeout=DEADLINE_S)
        term._reader.join(timeout=5)
        text = term.text()
    finally:
        term.close()
    assert code == 0, text[-3000:]
    assert "[y/N]" not in text
    assert "No changes" in text
    assert re.search(r"up: succeeded in \S+: \d+ unchanged", text), text[-2000:]
    assert "created" not in text.split("up: succeeded", 1)[1].splitlines()[0]
    assert "firewall_private_ip" in text  # the outputs are shown
    assert writes(sim) == before
