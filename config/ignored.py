"""Warnings for keys written in the file that have no effect, so an operator is not misled.

A key counts as "written" when it is in the section's ``model_fields_set`` (given in the file or by an
environment override), not when it only holds its default.
"""

from __future__ import annotations

from hubspoke_deploy.config.model import DeploymentConfig, NodePool
from hubspoke_deploy.errors import Problem

__all__ = ["ignored_value_warnings"]

_STATE_BLOB_KEYS = ("account_url", "container", "blob", "connection_string_env", "lease_seconds")


def _written(section: object, keys: tuple[str, ...]) -> list[str]:
    given: set[str] = getattr(section, "model_fields_set", set())
    return [k for k in keys if k in given]


def _pool(path: str, pool: NodePool) -> list[Problem]:
    given = pool.model_fields_set
    if pool.autoscaling and "count" in given and pool.count != pool.min_count:
        # The autoscaler owns the node count; the steps send count only when the pool is created and keep
        # the live count afterwards (steps/aks.py), as the AKS docs describe:
        # https://learn.microsoft.com/en-us/azure/aks/cluster-autoscaler
        # count == min_count (the examples) asks for nothing the autoscaler would not do: no warning.
        return [
            Problem(
                f"{path}.count",
                f"count = {pool.count} is ignored while autoscaling is on: the autoscaler sizes the pool between "
                f"min_count ({pool.min_count}) and max_count ({pool.max_count}); count is only the size at "
                "creation and later changes to it do nothing.",
                "remove count and size the pool with min_count/max_count, or set autoscaling = false for a "
                "fixed count.",
                severity="warning",
            )
        ]
    if not pool.autoscaling:
        keys = _written(pool, ("min_count", "max_count"))
        if keys:
            return [
                Problem(
                    f"{path}.{keys[0]}",
                    f"{' and '.join(keys)} {'is' if len(keys) == 1 else 'are'} ignored while autoscaling is off "
                    f"(the pool has a fixed count of {pool.count}).",
                    f"remove {' and '.join(keys)}, or set autoscaling = true.",
                    severity="warning",
                )
            ]
    return []


def ignored_value_warnings(cfg: DeploymentConfig) -> list[Problem]:
    """One warning per key (or group of keys) that the configuration ignores."""
    out: list[Problem] = []
    aks = cfg.aks
    out += _pool("aks.system_pool", aks.system_pool)
    user_keys = [k for k in aks.user_pool.model_fields_set if k != "enabled"]
    if not aks.user_pool.enabled:
        if user_keys:
            out.append(
                Problem(
                    f"aks.user_pool.{sorted(user_keys)[0]}",
                    f"the user pool is disabled, so {', '.join(sorted(user_keys))} "
                    f"{'is' if len(user_keys) == 1 else 'are'} ignored.",
                    "remove them, or set aks.user_pool.enabled = true.",
                    severity="warning",
                )
            )
    else:
        out += _pool("aks.user_pool", aks.user_pool)
    for section, name in ((cfg.jumpbox, "jumpbox"), (cfg.bastion, "bastion")):
        if not getattr(section, "enabled", True):
            keys = sorted(k for k in section.model_fields_set if k != "enabled")
            if keys:
                out.append(
                    Problem(
                        f"{name}.{keys[0]}",
                        f"[{name}] is disabled, so {', '.join(keys)} {'is' if len(keys) == 1 else 'are'} ignored.",
                        f"remove them, or set {name}.enabled = true.",
                        severity="warning",
                    )
                )
    state = cfg.state
    if state.backend == "file":
        keys = _written(state, _STATE_BLOB_KEYS)
        if keys:
            out.append(
                Problem(
                    f"state.{keys[0]}",
                    f"{', '.join(keys)} {'is' if len(keys) == 1 else 'are'} only used by the blob backend; "
                    'the backend is "file".',
                    'remove them, or set state.backend = "blob".',
                    severity="warning",
                )
            )
    elif "path" in state.model_fields_set:
        out.append(
            Problem(
                "state.path",
                'path is only used by the file backend; the backend is "blob".',
                "remove it (the blob is named by state.blob).",
                severity="warning",
            )
        )
    return out
