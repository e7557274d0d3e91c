"""Start the Azurite blob emulator for tests (real azure-storage-blob clients talk to it).

Reusable by any test module: ``start_azurite(workdir)`` returns an :class:`AzuriteHandle`
with the blob endpoint, the well-known development connection string and ``stop()``.
Azurite is installed by ``scripts/install-azurite.sh`` into ``<repo>/.tools``; when it is
missing the caller gets :class:`AzuriteNotInstalled` (tests must fail, never skip).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AZURITE_BIN = REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"

# The well-known Azurite / storage-emulator development account. Public, documented
# credentials: https://learn.microsoft.com/en-us/azure/storage/common/storage-use-azurite#well-known-storage-account-and-key
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzuriteNotInstalled(RuntimeError):
    """Azurite is not installed in <repo>/.tools."""


@dataclass
class AzuriteHandle:
    """A running azurite-blob process."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def blob_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{DEV_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={self.blob_url};"
        )

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_azurite(workdir: Path | str, timeout: float = 30.0) -> AzuriteHandle:
    """Start ``azurite-blob`` on a free port with its data under ``workdir``; wait until it answers."""
    if not AZURITE_BIN.exists():
        raise AzuriteNotInstalled(
            f"Azurite is not installed ({AZURITE_BIN} is missing). "
            f"Run scripts/install-azurite.sh (needs Node.js + npm) and re-run the tests."
        )
    if shutil.which("node") is None:
        raise AzuriteNotInstalled("Azurite needs Node.js: `node` is not on PATH.")
    workdir = Path(workdir)
    data = workdir / "azurite-data"
    data.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "azurite.log"
    last_err = ""
    for _attempt in range(3):  # a free port can be taken between probe and bind: retry
        port = _free_port()
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
        proc = subprocess.Popen(
            [
                str(AZURITE_BIN),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(port),
                "--location",
                str(data),
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(workdir),
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _port_answers(port):
                return AzuriteHandle(port=port, workdir=workdir, process=proc, log_path=log_path)
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        last_err = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"Azurite did not start listening within {timeout}s; log tail:\n{last_err}")
