"""open_store(): config -> store, and secret redaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from hubspoke_deploy.config.model import StateConfig
from hubspoke_deploy.errors import ConfigError
from hubspoke_deploy.orchestrator.stores import BlobStore, FileStore, LockInfo, open_store, redact


class StaticToken:
    """A TokenCredential (protocol) that never gets called: open_store must not reach Azure."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise AssertionError("open_store must not authenticate")


def test_file_backend_defaults_to_hubspoke_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store(StateConfig(), "sandbox", None, {})
    assert isinstance(store, FileStore)
    assert store.path == tmp_path / ".hubspoke" / "sandbox.state.json"


def test_file_backend_explicit_path(tmp_path: Path) -> None:
    store = open_store({"backend": "file", "path": str(tmp_path / "x.json")}, "sandbox", None, {})
    assert isinstance(store, FileStore) and store.path == tmp_path / "x.json"
    store = open_store({"backend": "file", "path": str(tmp_path) + "/"}, "sandbox", None, {})
    assert isinstance(store, FileStore) and store.path == tmp_path / "sandbox.state.json"


def test_blob_backend_with_connection_string_from_env(conn_str: str, azurite: Any) -> None:
    cfg = StateConfig(backend="blob", connection_string_env="HUBSPOKE_TEST_CONN")
    store = open_store(cfg, "sandbox", None, {"HUBSPOKE_TEST_CONN": conn_str})
    assert isinstance(store, BlobStore)
    assert store.describe() == f"blob {azurite.blob_url}/hubspoke-state/sandbox.state.json"
    store.acquire(LockInfo.current(command="up", run_id="r"))
    try:
        assert store.load() is None
    finally:
        store.release()


def test_blob_backend_with_aad(tmp_path: Path) -> None:
    cfg = StateConfig(backend="blob", account_url="https://acct.blob.core.windows.net", blob="b.json")
    store = open_store(cfg, "sandbox", StaticToken(), {})  # type: ignore[arg-type]
    assert store.describe() == "blob https://acct.blob.core.windows.net/hubspoke-state/b.json"


def test_blob_backend_config_errors_in_plain_words() -> None:
    cfg = StateConfig(backend="blob", connection_string_env="NOT_SET_ANYWHERE")
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE"):
        open_store(cfg, "sandbox", None, {})
    cfg = StateConfig(backend="blob", account_url="https://acct.blob.core.windows.net")
    with pytest.raises(ConfigError, match="no Azure credential"):
        open_store(cfg, "sandbox", None, {})


def test_redact_hides_keys_and_signatures() -> None:
    text = (
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc+/def==;EndpointSuffix=x "
        "SharedAccessSignature=sv=2022&sig=XYZ%2B; https://a/b?sv=1&sig=S3cr3t&se=2"
    )
    out = redact(text)
    for secret in ("abc+/def==", "XYZ%2B", "S3cr3t"):
        assert secret not in out
    assert "AccountName=a" in out and "se=2" in out
