"""`hubspoke-deploy simulator` standalone: prints endpoint and CA path, serves the SDK, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from azure.mgmt.resource.resources import ResourceManagementClient
from hubspoke_deploy.simulator import SimulatorCredential

SUB = "00000000-0000-0000-0000-0000000000aa"


def test_standalone_simulator_serves_the_sdk_and_persists(tmp_path: Path) -> None:
    state = tmp_path / "sim.json"
    cmd = [sys.executable, "-m", "hubspoke_deploy.cli", "simulator", "--port", "0", "--time-scale", "0.01",
           "--state-file", str(state)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = {}
        while len(lines) < 2:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "simulator exited"
            key, _, value = line.partition(":")
            lines[key.strip()] = value.strip()
        endpoint, ca = lines["endpoint"], lines["ca_path"]
        assert endpoint.startswith("https://127.0.0.1:") and Path(ca).is_file()
        client = ResourceManagementClient(SimulatorCredential(), SUB, base_url=endpoint, connection_verify=ca,
                                          credential_scopes=["https://management.azure.com/.default"])
        client.resource_groups.create_or_update("rg-standalone", {"location": "westeurope", "tags": {"a": "b"}})
        assert client.resource_groups.get("rg-standalone").tags == {"a": "b"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert "rg-standalone" in state.read_text()
