"""hubspoke-deploy: private AKS behind Azure Firewall in a hub-spoke network.

The public API (the same engine as the ``hubspoke-deploy`` command)::

    import hubspoke_deploy as hd

    cfg = hd.load_config("prod.toml")                 # a path or a dict; raises hd.ConfigError
    preview = hd.plan(cfg)                            # hd.PlanResult: items, has_changes, counts()
    result = hd.up(cfg, parallelism=16, on_event=lambda e: print(e["event"], e.get("step")))
    result.status                                     # hd.RunStatus.SUCCEEDED (== "succeeded")
    hd.outputs(cfg)["aks_private_fqdn"]
    hd.down(cfg)                                      # deletes only what this deployment owns

Failures raise subclasses of :class:`HubspokeError`, each with the CLI's ``exit_code``.
The library never prints, exits or configures logging. Importing this package is
cheap: the library functions (and with them pydantic and the Azure SDKs) are loaded
on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hubspoke_deploy.errors import (
    EXIT_CHANGES,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_USAGE,
    AuthenticationFailed,
    AzureUnreachable,
    ConfigError,
    DeploymentFailed,
    HubspokeError,
    Interrupted,
    Problem,
    ReplacementRefused,
    ReplacementsRefused,
    StateConflict,
    StateCorrupt,
    StateError,
    StateLocked,
    StepFailed,
    UsageError,
)

if TYPE_CHECKING:  # the type checker sees the real objects; at run time they load lazily
    from hubspoke_deploy.library import (
        ConfigSource,
        Event,
        EventCallback,
        PlanItem,
        PlanResult,
        RunResult,
        RunStatus,
        StepResult,
        StepStatus,
        down,
        load_config,
        outputs,
        plan,
        status,
        up,
    )
    from hubspoke_deploy.verification import VerifyReport, verify

__version__ = "0.1.0"

#: Names served lazily from :mod:`hubspoke_deploy.library`.
_LIBRARY = (
    "ConfigSource",
    "Event",
    "EventCallback",
    "PlanItem",
    "PlanResult",
    "RunResult",
    "RunStatus",
    "StepResult",
    "StepStatus",
    "down",
    "load_config",
    "outputs",
    "plan",
    "status",
    "up",
    "verify",
    "VerifyReport",
)

__all__ = [
    "EXIT_CHANGES",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_USAGE",
    "AuthenticationFailed",
    "AzureUnreachable",
    "ConfigError",
    "ConfigSource",
    "DeploymentFailed",
    "Event",
    "EventCallback",
    "HubspokeError",
    "Interrupted",
    "PlanItem",
    "PlanResult",
    "Problem",
    "ReplacementRefused",
    "ReplacementsRefused",
    "RunResult",
    "RunStatus",
    "StateConflict",
    "StateCorrupt",
    "StateError",
    "StateLocked",
    "StepFailed",
    "StepResult",
    "StepStatus",
    "UsageError",
    "VerifyReport",
    "__version__",
    "down",
    "load_config",
    "outputs",
    "plan",
    "status",
    "up",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name in _LIBRARY:
        value = getattr(importlib.import_module("hubspoke_deploy.library"), name)
        globals()[name] = value  # cache: later look-ups skip this hook
        return value
    raise AttributeError(f"module 'hubspoke_deploy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(__all__) | {name for name in globals() if name.startswith("__")})
