"""Fixtures for the state-store tests: one Azurite per session, a fresh container per test,
and a ``backend`` fixture that runs the shared contract tests against both stores."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from hubspoke_deploy.orchestrator.stores import BlobStore, FileStore, LockInfo, StateStore

BLOB_NAME = "sandbox.state.json"


def _load_azurite_module() -> ModuleType:
    # tests/ is not a package (--import-mode=importlib): load tests/azurite.py by path.
    name = "hubspoke_tests_azurite"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parent.parent / "azurite.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


azurite_mod = _load_azurite_module()


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running Azurite blob emulator (fails, never skips, when it is not installed)."""
    try:
        handle = azurite_mod.start_azurite(tmp_path_factory.mktemp("azurite"))
    except azurite_mod.AzuriteNotInstalled as err:
        pytest.fail(str(err), pytrace=False)
    yield handle
    handle.stop()


@pytest.fixture
def conn_str(azurite: Any) -> str:
    value: str = azurite.connection_string
    return value


@pytest.fixture
def container() -> str:
    """A unique container name per test (created by the store under test)."""
    return "st" + uuid.uuid4().hex[:20]


@pytest.fixture
def service(conn_str: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(conn_str)


def lock_info(run_id: str = "run-1", command: str = "up", pid: int = 4242, host: str = "host-a") -> LockInfo:
    return LockInfo(host=host, pid=pid, started_at="2025-01-01T00:00:00+00:00", command=command, run_id=run_id)


class Backend:
    """Makes stores of one kind on one location, and reads/writes that location behind their back."""

    kind: str

    def __init__(self) -> None:
        self.stores: list[StateStore] = []

    def make(self, **kwargs: Any) -> StateStore:
        raise NotImplementedError

    def raw_read(self) -> bytes | None:
        raise NotImplementedError

    def raw_write(self, data: bytes, holder: StateStore | None = None) -> None:
        """Overwrite the document without going through a store (``holder``: the store holding the lock)."""
        raise NotImplementedError

    def close(self) -> None:
        for store in self.stores:
            store.release()


class FileBackend(Backend):
    kind = "file"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def make(self, **kwargs: Any) -> StateStore:
        store = FileStore(self.path, **kwargs)
        self.stores.append(store)
        return store

    def raw_read(self) -> bytes | None:
        return self.path.read_bytes() if self.path.exists() else None

    def raw_write(self, data: bytes, holder: StateStore | None = None) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(data)


class BlobBackend(Backend):
    kind = "blob"

    def __init__(self, conn_str: str, container: str) -> None:
        super().__init__()
        self.conn_str = conn_str
        self.container = container
        self.client = BlobServiceClient.from_connection_string(conn_str).get_blob_client(container, BLOB_NAME)

    def make(self, **kwargs: Any) -> StateStore:
        kwargs.setdefault("lease_seconds", 15)  # the minimum Azure allows
        store = BlobStore(self.conn_str, self.container, BLOB_NAME, **kwargs)
        self.stores.append(store)
        return store

    def raw_read(self) -> bytes | None:
        try:
            data: bytes = self.client.download_blob().readall()
        except ResourceNotFoundError:
            return None
        return data

    def raw_write(self, data: bytes, holder: StateStore | None = None) -> None:
        with contextlib.suppress(ResourceExistsError):
            BlobServiceClient.from_connection_string(self.conn_str).create_container(self.container)
        lease = holder.lease_id if isinstance(holder, BlobStore) else None
        self.client.upload_blob(data, overwrite=True, lease=lease)


@pytest.fixture(params=["file", "blob"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "file":
        b: Backend = FileBackend(tmp_path / "state" / BLOB_NAME)
    else:
        b = BlobBackend(request.getfixturevalue("conn_str"), request.getfixturevalue("container"))
    yield b
    b.close()


@pytest.fixture
def blob_backend(conn_str: str, container: str) -> Iterator[BlobBackend]:
    b = BlobBackend(conn_str, container)
    yield b
    b.close()


@pytest.fixture
def file_backend(tmp_path: Path) -> Iterator[FileBackend]:
    b = FileBackend(tmp_path / "state" / BLOB_NAME)
    yield b
    b.close()


@pytest.fixture
def info() -> Callable[..., LockInfo]:
    return lock_info
