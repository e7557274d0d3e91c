"""Azure-aware structural diff between a step's desired spec and the observed resource.

Only the fields present in the spec are compared (a step owns exactly what it
declares), so server-assigned values (etag, provisioningState, ipAddress...)
never show up as drift. Values are normalised the way Azure treats them:

* resource ids and names compare case-insensitively;
* locations compare without spaces and case (``West Europe`` == ``westeurope``);
* lists of objects that carry a ``name`` are keyed by name (order-insensitive);
* lists of scalars compare as sets when the step says so (``unordered`` paths),
  otherwise in order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

UNKNOWN = "(known after apply)"


@dataclass(frozen=True)
class Change:
    """One property that differs. ``path`` is dotted (``properties.routes[default].nextHopIpAddress``)."""

    path: str
    before: Any
    after: Any
    replace: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after, "replace": self.replace}


def normalise_location(value: str) -> str:
    return value.replace(" ", "").lower()


def _is_id(value: str) -> bool:
    return value.startswith("/subscriptions/") or value.startswith("/providers/")


def scalar_equal(key: str, desired: Any, observed: Any) -> bool:
    """Compare two scalars the Azure way."""
    if isinstance(desired, str) and isinstance(observed, str):
        if key == "location":
            return normalise_location(desired) == normalise_location(observed)
        if _is_id(desired) or key in {"name", "id"} or key.endswith("Id") or key.endswith("ID"):
            return desired.lower() == observed.lower()
        return desired == observed
    if isinstance(desired, bool) or isinstance(observed, bool):
        return desired is observed or desired == observed
    if isinstance(desired, (int, float)) and isinstance(observed, (int, float)):
        return float(desired) == float(observed)
    return bool(desired == observed)


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """Index a list of dicts by lower-cased name, or None if it is not such a list."""
    if not items or not all(isinstance(i, Mapping) and isinstance(i.get("name"), str) for i in items):
        return None
    return {str(i["name"]).lower(): i for i in items}


def diff(
    spec: Any,
    observed: Any,
    *,
    immutable: Collection[str] = (),
    unordered: Collection[str] = (),
    path: str = "",
) -> list[Change]:
    """Return the changes needed to bring ``observed`` to ``spec``.

    ``immutable`` lists path prefixes (without list keys) that Azure cannot update
    in place: a change under them is flagged ``replace=True``.
    """
    changes: list[Change] = []
    _walk(spec, observed, path, "", changes, set(immutable), set(unordered))
    return changes


def _plain(path: str) -> str:
    """Path without list keys: ``a.b[x].c`` -> ``a.b.c``."""
    out = []
    depth = 0
    for ch in path:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _is_replace(path: str, immutable: set[str]) -> bool:
    plain = _plain(path)
    return any(plain == p or plain.startswith(p + ".") for p in immutable)


def _walk(
    spec: Any,
    observed: Any,
    path: str,
    key: str,
    out: list[Change],
    immutable: set[str],
    unordered: set[str],
) -> None:
    if isinstance(spec, str) and spec == UNKNOWN:
        return
    if isinstance(spec, Mapping):
        if not isinstance(observed, Mapping):
            if observed is None and _absent(spec):
                return  # only owned "absent" fields below, and Azure has nothing here either
            out.append(Change(path or "(resource)", observed, _strip(spec), _is_replace(path, immutable)))
            return
        for k, v in spec.items():
            sub = f"{path}.{k}" if path else str(k)
            _walk(v, observed.get(k), sub, str(k), out, immutable, unordered)
        return
    if isinstance(spec, list):
        obs_list = observed if isinstance(observed, list) else None
        keyed_spec = _keyed(spec)
        if keyed_spec is not None:
            keyed_obs = _keyed(obs_list) if obs_list else {}
            if keyed_obs is None:
                out.append(Change(path, observed, _strip(spec), _is_replace(path, immutable)))
                return
            for name, item in keyed_spec.items():
                _walk(item, keyed_obs.get(name), f"{path}[{item['name']}]", key, out, immutable, unordered)
            for name, item in keyed_obs.items():
                if name not in keyed_spec:
                    out.append(Change(f"{path}[{item['name']}]", item, None, _is_replace(path, immutable)))
            return
        if obs_list is None:
            if spec:
                out.append(Change(path, observed, _strip(spec), _is_replace(path, immutable)))
            return
        if _plain(path) in unordered:
            same = len(spec) == len(obs_list) and all(
                any(_equal(s, o, key) for o in obs_list) for s in spec
            ) and all(any(_equal(s, o, key) for s in spec) for o in obs_list)
        else:
            same = len(spec) == len(obs_list) and all(_equal(s, o, key) for s, o in zip(spec, obs_list, strict=False))
        if not same:
            out.append(Change(path, obs_list, _strip(spec), _is_replace(path, immutable)))
        return
    if spec is None:
        # The spec says "absent/unset": only a non-empty observed value is drift (a switch
        # Azure reports as ``false`` is as off as an absent one).
        if observed is not False and observed not in (None, [], {}, ""):
            out.append(Change(path, observed, None, _is_replace(path, immutable)))
        return
    if observed is None or not scalar_equal(key, spec, observed):
        out.append(Change(path, observed, spec, _is_replace(path, immutable)))


def _absent(spec: Any) -> bool:
    """A spec value that only says "nothing here" (None, empty, or a mapping of such)."""
    if isinstance(spec, Mapping):
        return all(_absent(v) for v in spec.values())
    return spec is None or spec is False or spec in ([], "")


def _equal(a: Any, b: Any, key: str) -> bool:
    if isinstance(a, (Mapping, list)):
        return not diff(a, b)
    if b is None:
        return False
    return scalar_equal(key, a, b)


def _strip(value: Any) -> Any:
    """Copy of a spec value for display (drops UNKNOWN placeholders)."""
    if isinstance(value, Mapping):
        return {k: _strip(v) for k, v in value.items() if v != UNKNOWN}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def with_owned(spec: Mapping[str, Any], owned: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` with every owned dotted path it leaves out set to its "absent" value.

    A step owns these fields whether or not its desired body carries them: a feature the
    config switches off (a subnet's NAT gateway, an add-on's profile) is compared as absent,
    so what is left in Azure shows as drift and the next write removes it."""
    result: dict[str, Any] = dict(spec)
    for path, absent in owned.items():
        node = result
        parts = path.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = {}
            elif not isinstance(child, Mapping):
                break
            node[part] = dict(child)
            node = node[part]
        else:
            node.setdefault(parts[-1], absent)
    return result
