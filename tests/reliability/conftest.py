"""Fixtures of the reliability suite, and the one-line-per-scenario figures printed at the end
of the pytest run (``pytest_terminal_summary``, so they show with or without ``-s``)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_FIGURES: list[str] = []


def load_by_path(name: str, path: Path) -> ModuleType:
    """tests/ is not a package (--import-mode=importlib): load a helper module by path."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


HERE = Path(__file__).resolve().parent
support = load_by_path("hubspoke_reliability_support", HERE / "_support.py")
azurite_mod = load_by_path("hubspoke_tests_azurite", HERE.parent / "azurite.py")


@pytest.fixture
def report() -> Callable[[str], None]:
    """``report("crash-resume: 20/20 converged, ...")``: one line of figures per scenario."""

    def add(line: str) -> None:
        _FIGURES.append(line)
        print(line)

    return add


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _FIGURES:
        terminalreporter.section("reliability figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running Azurite blob emulator (fails, never skips, when it is not installed)."""
    try:
        handle = azurite_mod.start_azurite(tmp_path_factory.mktemp("azurite-rel"))
    except azurite_mod.AzuriteNotInstalled as err:
        pytest.fail(str(err), pytrace=False)
    yield handle
    handle.stop()
