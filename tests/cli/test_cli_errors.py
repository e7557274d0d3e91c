"""Errors that name their cause (issue 13, points 9 and 10), typed as a CLI user would.

``plan`` against an endpoint nobody listens on, against a TLS endpoint whose CA is not trusted,
and with no Azure login must say so and exit 1 ("failed", retry after fixing) — not blame the
state lock and exit 2 ("config error, nothing changed"). With no login the credential chain
fails within seconds, one line per credential tried plus the fix.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubspoke_deploy.simulator import Simulator

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]
# Variables that would let the subprocess trust the simulator's CA or find a login.
_SCRUB = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "AZURE_", "IDENTITY_",
          "MSI_", "IMDS_", "HUBSPOKE_")


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=3) as s:
        yield s


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env.update({
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json"),
    })
    env.update(extra)
    return env


def plan(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "plan", "--config", str(SANDBOX)], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=240)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_not_the_lock(proc: subprocess.CompletedProcess[str]) -> None:
    assert "state lock" not in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])


def test_plan_against_an_unreachable_endpoint_says_connection_refused(tmp_path: Path) -> None:
    endpoint = f"https://127.0.0.1:{closed_port()}"
    proc = plan(cli_env(tmp_path, HUBSPOKE_AZURE_ENDPOINT=endpoint))
    assert_not_the_lock(proc)
    assert f"cannot reach Azure Resource Manager at {endpoint}" in proc.stderr, proc.stderr[-2000:]
    assert "connection refused" in proc.stderr.lower()
    assert not (tmp_path / "state.json").exists(), "plan writes no state"


def test_plan_without_the_endpoints_ca_bundle_says_tls(sim: Simulator, tmp_path: Path) -> None:
    proc = plan(cli_env(tmp_path, HUBSPOKE_AZURE_ENDPOINT=sim.endpoint))
    assert_not_the_lock(proc)
    assert f"TLS certificate of {sim.endpoint} is not trusted" in proc.stderr, proc.stderr[-2000:]
    assert "REQUESTS_CA_BUNDLE" in proc.stderr


def test_plan_with_no_login_fails_fast_with_one_line_per_credential(sim: Simulator, tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"  # no az, azd or pwsh on PATH
    empty_bin.mkdir()
    home = tmp_path / "home"  # no token cache, no VS Code sign-in
    home.mkdir()
    env = cli_env(tmp_path, HUBSPOKE_AZURE_ENDPOINT=sim.endpoint, HUBSPOKE_AZURE_CREDENTIAL="default",
                  REQUESTS_CA_BUNDLE=sim.ca_path, PATH=str(empty_bin), HOME=str(home))
    started = time.monotonic()
    proc = plan(env)
    elapsed = time.monotonic() - started
    assert_not_the_lock(proc)
    assert elapsed < 30, f"the credential chain took {elapsed:.0f}s"
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: no Azure credential could sign in"), proc.stderr
    tried = [line for line in lines if line.startswith("  - ")]
    names = [line[4:].split(":", 1)[0] for line in tried]
    assert {"EnvironmentCredential", "ManagedIdentityCredential", "AzureCliCredential"} <= set(names), names
    assert len(names) == len(set(names)), "one line per credential"
    assert any("az login" in line for line in lines[-2:]) and "[azure] credential" in proc.stderr
    # nothing else: no azure.identity log lines, no troubleshooting URLs per credential
    assert len(lines) == 1 + len(tried) + 1, proc.stderr
