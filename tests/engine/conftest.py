"""Engine tests: the sandbox config pointed at the shared simulator fixture (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import load_config

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "examples" / "sandbox.toml"


@pytest.fixture
def cfg(env: dict[str, str]) -> Any:
    return load_config(SANDBOX, env=env)
