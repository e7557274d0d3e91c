"""The ARM engine of the simulator: resource state, generic CRUD, LROs, locks, references.

The HTTP layer (``server.py``) parses requests and calls :meth:`ArmEngine.handle`;
everything type-specific is delegated to the providers (``providers/base.py``).

ARM behaviours implemented here and where Azure documents them:

* Async operations (201/202 + ``Azure-AsyncOperation``/``Location``/``Retry-After``,
  status resource InProgress -> Succeeded/Failed with an ``error`` object):
  https://learn.microsoft.com/azure/azure-resource-manager/management/async-operations
* Error body ``{"error": {"code", "message"}}`` and 404 codes:
  https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-not-found
* ``AnotherOperationInProgress`` (409) on concurrent writes in one resource tree
  (e.g. parallel subnet PUTs in one VNet): https://github.com/hashicorp/terraform-provider-azurerm/issues/3780,
  https://github.com/Azure/bicep-registry-modules/issues/1870 (409 Conflict:
  https://github.com/Azure/sap-automation/issues/1052)
* ``ReferencedResourceNotProvisioned`` when a referenced resource is not Succeeded
  (e.g. the VNet is Updating during a PutSubnetOperation):
  https://github.com/Azure-Samples/azuresandbox/issues/25
* ``InvalidResourceReference`` (400) for a referenced id that does not exist.
* A VNet PUT without ``subnets`` keeps the existing subnets (API 2023-09-01 and later):
  https://techcommunity.microsoft.com/blog/azurenetworkingblog/azure-virtual-network-now-supports-updates-without-subnet-property/4067952
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from hubspoke_deploy.regions import REGIONS
from hubspoke_deploy.simulator.faults import FaultInjector
from hubspoke_deploy.simulator.providers.base import (
    JSON,
    ActionContext,
    ArmError,
    DeleteContext,
    Reference,
    ResourceId,
    ResourceType,
    Settings,
    WriteContext,
    deep_get,
    delete_rules_for,
    get_type,
    load_providers,
    parse_path,
    seed_hooks,
    view_hooks_for,
    write_rules_for,
)
from hubspoke_deploy.simulator.providers.resources import subscription_locations

__all__ = ["STATE_FORMAT", "ArmEngine", "Operation", "Response", "SimulatorStateError"]

#: ``format`` field of a snapshot file (``Simulator(state_file=...)``).
STATE_FORMAT = "hubspoke-arm-simulator-state"
_STATE_VERSION = 1
#: finished operations kept in a snapshot (their status URLs stay answerable after a restart)
_KEEP_FINISHED_OPS = 2000


class SimulatorStateError(RuntimeError):
    """The simulator's state file cannot be used (not JSON, another format, a newer version)."""


_OP_RE = re.compile(
    r"^(?P<scope>/subscriptions/[^/]+)?/providers/(?P<ns>[^/]+)/locations/(?P<loc>[^/]+)/"
    r"(?P<kind>operations|operationResults)/(?P<op>[^/]+)$",
    re.IGNORECASE,
)
_RG_RESOURCES_RE = re.compile(r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+))?/resources$", re.IGNORECASE)
_SUB_RE = re.compile(r"^/subscriptions/([^/]+)$", re.IGNORECASE)
_LOCATIONS_RE = re.compile(r"^/subscriptions/([^/]+)/locations$", re.IGNORECASE)
_SUB_PREFIX_RE = re.compile(r"^/subscriptions/([^/?]+)", re.IGNORECASE)

IN_PROGRESS_STATES = ("Creating", "Updating", "Deleting", "Accepted", "Provisioning")
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def _copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str = ""
    kind: str = "read"  # read | write | delete | poll | admin
    #: lower-cased id of the resource the request addresses (for a poll: the operation's
    #: resource; for a list: the collection path); "" when none
    resource_id: str = ""
    #: the request created the resource (a PUT answered 200/201/202 for a resource that did not
    #: exist; diagnostic settings answer creates with 200)
    created: bool = False


@dataclass
class Operation:
    id: str
    kind: str  # create | update | delete | action
    resource_id: str
    root_key: str
    namespace: str
    location: str
    subscription: str | None
    start_wall: float
    start: float
    end: float
    latency_s: float
    fail: bool
    affected: list[str] = field(default_factory=list)  # keys whose state follows the op
    status: str = "InProgress"
    error: JSON | None = None
    result: Any = None
    result_status: int = 200
    #: the status URLs answer 404 OperationNotFound (FaultSpec ``forget``); the operation goes on
    forgotten: bool = False


def _kind_check(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "list[object]":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    return True


def _strip(obj: JSON, path: str) -> None:
    parts = path.split(".")
    cur: Any = obj
    for p in parts[:-1]:
        if not isinstance(cur, dict):
            return
        cur = cur.get(p)
    if isinstance(cur, dict):
        cur.pop(parts[-1], None)


class ArmEngine:
    """The simulator's state and ARM semantics. Thread-safe (one re-entrant lock)."""

    def __init__(self, settings: Settings, faults: FaultInjector) -> None:
        self.settings = settings
        self.faults = faults
        self.lock = threading.RLock()
        self._res: dict[str, JSON] = {}
        self._ops: dict[str, Operation] = {}
        self._active: dict[str, Operation] = {}  # root key -> in-progress operation
        self._pending: dict[str, Operation] = {}  # every in-progress operation
        self._rng = random.Random(settings.seed)
        self._version = 0
        self._ref_cache: tuple[int, dict[str, list[Reference]]] | None = None
        self._op_events = 0  # operations started or finished (part of the change counter)
        self._seeded: set[str] = set()
        self.base_url = ""
        load_providers()
        self._seed(None)

    # ================================================================ Store protocol (for providers)

    def get(self, resource_id: str) -> JSON | None:
        return self._res.get(resource_id.lower().rstrip("/"))

    def view(self, resource_id: str) -> JSON | None:
        res = self.get(resource_id)
        return None if res is None else self._view(res)

    def children(self, parent_id: str, child_type: str | None = None) -> list[JSON]:
        prefix = parent_id.lower().rstrip("/") + "/"
        depth = prefix.count("/") + 1
        out = []
        for key, res in self._res.items():
            if key.startswith(prefix) and key.count("/") == depth and "/providers/" not in key[len(prefix) :]:
                ctype = key[len(prefix) :].split("/", 1)[0]
                if child_type is None or ctype == child_type.lower():
                    out.append(res)
        return out

    def find(self, type_name: str, subscription: str | None = None) -> list[JSON]:
        low = type_name.lower()
        sub = f"/subscriptions/{subscription.lower()}/" if subscription else ""
        return [
            r for k, r in self._res.items() if str(r.get("type", "")).lower() == low and (not sub or k.startswith(sub))
        ]

    def referrers(self, target_id: str) -> list[Reference]:
        if self._ref_cache is None or self._ref_cache[0] != self._version:
            index: dict[str, list[Reference]] = {}
            for res in self._res.values():
                for path, ref, owner in _walk_refs(res, "", str(res.get("id", ""))):
                    index.setdefault(ref.lower(), []).append(Reference(res, path, owner))
            self._ref_cache = (self._version, index)
        return list(self._ref_cache[1].get(target_id.lower().rstrip("/"), []))

    def put(self, resource: JSON) -> None:
        rid = ResourceId.parse(resource["id"])
        resource["id"] = rid.id
        resource.setdefault("name", rid.name)
        resource.setdefault("type", rid.type)
        resource["etag"] = self._etag()
        props = resource.setdefault("properties", {})
        props.setdefault("provisioningState", "Succeeded")
        self._res[rid.key] = resource
        self._version += 1

    def delete(self, resource_id: str) -> None:
        self._remove_tree(resource_id.lower().rstrip("/"))

    def now(self) -> float:
        # Wall clock, not monotonic: operation end times and principal creation times are
        # kept in the state file of a persistent simulator and must mean the same after a restart.
        return time.time()

    def new_guid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def busy(self, resource_id: str) -> bool:
        try:
            rid = ResourceId.parse(resource_id)
        except ArmError:
            return False
        op = self._active.get(rid.root.key)
        return op is not None and op.status == "InProgress"

    # ================================================================ admin

    def reset(self) -> None:
        with self.lock:
            self._res.clear()
            self._ops.clear()
            self._active.clear()
            self._pending.clear()
            self._seeded.clear()
            self._version += 1
            self._seed(None)

    # ================================================================ seeding, persistence

    def _seed(self, subscription: str | None) -> None:
        key = (subscription or "").lower()
        if key in self._seeded:
            return
        self._seeded.add(key)
        for fn in seed_hooks():
            fn(self, subscription)

    @property
    def change_count(self) -> int:
        """Grows with every change of state (resources, operations): the persistence trigger."""
        return self._version + self._op_events

    def snapshot(self, extra: JSON | None = None) -> str:
        """The whole ARM state as a JSON document (resources, operations in flight and recently
        finished, the GUID generator, seeded subscriptions). Call with the lock held or not."""
        with self.lock:
            finished = [o for o in self._ops.values() if o.status != "InProgress"][-_KEEP_FINISHED_OPS:]
            running = [o for o in self._ops.values() if o.status == "InProgress"]
            version, internal, gauss = self._rng.getstate()
            doc = {
                "format": STATE_FORMAT,
                "version": _STATE_VERSION,
                "saved_at": time.time(),
                "resources": self._res,
                "operations": [asdict(o) for o in (*finished, *running)],
                "rng": [version, list(internal), gauss],
                "seeded": sorted(self._seeded),
                **(extra or {}),
            }
            return json.dumps(doc, separators=(",", ":"))

    def restore(self, doc: Any, source: str = "state file") -> None:
        """Replace the state with a :meth:`snapshot` document. Operations that were in flight
        keep their wall-clock end times: those already due complete on the next request."""
        if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
            raise SimulatorStateError(f"{source} is not an ARM simulator state file (no format '{STATE_FORMAT}')")
        if doc.get("version") != _STATE_VERSION:
            raise SimulatorStateError(
                f"{source} has state version {doc.get('version')!r}; this simulator reads version {_STATE_VERSION}"
            )
        try:
            resources = {str(k): v for k, v in dict(doc["resources"]).items() if isinstance(v, dict)}
            ops = [Operation(**o) for o in doc.get("operations", [])]
            rng = doc.get("rng")
            rng_state = (int(rng[0]), tuple(int(x) for x in rng[1]), rng[2]) if rng else None
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise SimulatorStateError(f"{source} is damaged: {err}") from err
        with self.lock:
            self._res = resources
            self._ops = {o.id: o for o in ops}
            self._pending = {o.id: o for o in ops if o.status == "InProgress"}
            self._active = {}
            for op in sorted(self._pending.values(), key=lambda o: o.start):
                if not _is_rg_key(op.root_key):
                    self._active[op.root_key] = op
            if rng_state is not None:
                self._rng.setstate(rng_state)
            self._seeded = {str(s) for s in doc.get("seeded", [])}
            self._version += 1
            self._op_events += 1
            self._seed(None)

    def resources(self) -> list[JSON]:
        with self.lock:
            self.advance()
            return [self._view(r) for r in self._res.values()]

    def get_view(self, resource_id: str) -> JSON | None:
        with self.lock:
            self.advance()
            return self.view(resource_id)

    # ================================================================ helpers

    def _etag(self) -> str:
        return f'W/"{self.new_guid()}"'

    def _remove_tree(self, key: str) -> None:
        prefix = key + "/"
        for k in [k for k in self._res if k == key or k.startswith(prefix)]:
            del self._res[k]
        self._version += 1

    def _state(self, res: JSON) -> str:
        return str(deep_get(res, "properties.provisioningState", "Succeeded"))

    def _effective_state(self, res: JSON) -> str:
        state = self._state(res)
        if state != "Succeeded":
            return state
        key = str(res.get("id", "")).lower()
        try:
            rid = ResourceId.parse(key)
        except ArmError:
            return state
        op = self._active.get(rid.root.key)
        # a running operation on a child shows its ancestors as Updating (Azure shows the VNet
        # "Updating" while a PutSubnetOperation runs: https://github.com/Azure-Samples/azuresandbox/issues/25)
        if op is not None and op.status == "InProgress" and op.resource_id.lower().startswith(key + "/"):
            return "Updating"
        return state

    def _view(self, res: JSON) -> JSON:
        view: JSON = _copy(res)
        rtype = get_type(str(res.get("type", "")))
        props = view.get("properties")
        if isinstance(props, dict):
            props["provisioningState"] = self._effective_state(res)
            for prop, ctype in rtype.inline_children.items():
                props[prop] = [self._view(c) for c in self.children(str(res["id"]), ctype)]
        for path in rtype.secret_paths:
            _strip(view, path)
        rtype.on_read(self, view)
        for hook in view_hooks_for(rtype.type_name or str(res.get("type", ""))):
            hook(self, view)
        return view

    def _retry_ms(self, op: Operation) -> int:
        # ARM answers Retry-After in seconds; real intervals are ~10% of the operation,
        # between 1 and 60 s. Scaled by time_scale and never 0 (a 0 delay would make
        # azure-core fall back to its own polling_interval).
        real = min(max(op.latency_s / 10.0, 1.0), 60.0)
        remaining = max(op.end - self.now(), 0.0)
        wall = min(real * self.settings.time_scale, remaining) if remaining > 0 else 0.001
        return max(1, math.ceil(wall * 1000))

    def _op_headers(self, op: Operation, api_version: str) -> dict[str, str]:
        scope = f"/subscriptions/{op.subscription}" if op.subscription else ""
        base = f"{self.base_url}{scope}/providers/{op.namespace}/locations/{op.location}"
        ms = self._retry_ms(op)
        return {
            "Azure-AsyncOperation": f"{base}/operations/{op.id}?api-version={api_version}",
            "Location": f"{base}/operationResults/{op.id}?api-version={api_version}",
            **_retry_headers(ms),
        }

    def _start_op(
        self, kind: str, rid: ResourceId, latency_s: float, location: str | None, affected: list[str]
    ) -> Operation:
        now = self.now()
        op = Operation(
            id=self.new_guid(),
            kind=kind,
            resource_id=rid.id,
            root_key=rid.root.key if not rid.is_resource_group else rid.key,
            namespace=rid.namespace,
            location=(location or "westeurope").replace(" ", "").lower(),
            subscription=rid.subscription,
            start_wall=time.time(),
            start=now,
            end=now + latency_s * self.settings.time_scale,
            latency_s=latency_s,
            fail=self.faults.lro_fails(),
            affected=affected,
        )
        self._ops[op.id] = op
        self._pending[op.id] = op
        self._op_events += 1
        if len(self._ops) > 20000:  # bound memory for long benchmark runs
            for k in [k for k, o in self._ops.items() if o.status != "InProgress"][:10000]:
                del self._ops[k]
        if not rid.is_resource_group:
            self._active[op.root_key] = op
        return op

    def advance(self) -> None:
        """Complete every operation whose time has come (lazy, on each request)."""
        now = self.now()
        due = [op for op in self._pending.values() if op.end <= now]
        for op in sorted(due, key=lambda o: o.end):
            if op.status == "InProgress":
                self._finish(op)

    def _finish(self, op: Operation) -> None:
        if self._active.get(op.root_key) is op:
            del self._active[op.root_key]
        self._pending.pop(op.id, None)
        self._op_events += 1
        op.status = "Failed" if op.fail else "Succeeded"
        if op.fail:
            op.error = {
                "code": "RetryableError",
                "message": "A retryable error occurred. The operation failed; retry the request.",
            }
            for key in op.affected:
                res = self._res.get(key)
                if res is not None:
                    res.setdefault("properties", {})["provisioningState"] = "Failed"
            self._version += 1
            return
        if op.kind == "delete":
            res = self._res.get(op.resource_id.lower())
            if res is not None:
                rid = ResourceId.parse(op.resource_id)
                if rid.is_resource_group:
                    self._cascade_on_delete(rid.key)
                rtype = get_type(rid.type)
                rtype.on_delete(DeleteContext(self, rid, res, ""))
                # extension resources and children go with it (RG delete deletes everything in it)
                self._remove_tree(rid.key)
            return
        for key in op.affected:
            res = self._res.get(key)
            if res is None:
                continue
            res.setdefault("properties", {})["provisioningState"] = "Succeeded"
        self._version += 1
        if op.kind in ("create", "update"):
            for key in op.affected:
                res = self._res.get(key)
                if res is not None:
                    get_type(str(res.get("type", ""))).on_provisioned(self, res)
            self._version += 1

    # ================================================================ request dispatch

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        """Handle one ARM request. ``body`` is the parsed JSON (None when absent)."""
        with self.lock:
            self.advance()
            m = _SUB_PREFIX_RE.match(path)
            if m:
                self._seed(m.group(1))
            try:
                resp = self._dispatch(method, path, query, body)
            except ArmError as err:
                headers = dict(err.headers)
                resp = Response(
                    err.status,
                    err.body(),
                    headers,
                    err.code,
                    kind="write" if method in ("PUT", "PATCH", "POST") else "delete" if method == "DELETE" else "read",
                )
            if not resp.resource_id:
                resp.resource_id, poll = self.addressed(path, method)
                if poll:
                    resp.kind = "poll"
            return resp

    def addressed(self, path: str, method: str = "GET") -> tuple[str, bool]:
        """``(lower-cased resource id, is_operation_poll)`` of the request path: the resource
        for resource URLs, the resource a POST action is sent to, the operation's resource for
        operation status URLs, the collection path for lists."""
        path = "/" + path.split("?", 1)[0].strip("/")
        m = _OP_RE.match(path)
        if m:
            with self.lock:
                op = self._ops.get(m.group("op"))
            return (op.resource_id.lower() if op is not None else ""), True
        parsed = parse_path(path)
        if isinstance(parsed, ResourceId):
            return parsed.key, False
        if isinstance(parsed, tuple) and parsed[0] is not None and method == "POST":
            return parsed[0].key, False  # POST {id}/{action}: the resource the action is sent to
        return path.lower(), False

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        path = "/" + path.strip("/")
        m = _OP_RE.match(path)
        if m and method == "GET":
            return self._op_status_or_gone(m.group("op"), m.group("kind").lower(), query)
        api_version = query.get("api-version", "")
        if not api_version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        m2 = _RG_RESOURCES_RE.match(path)
        if m2 and method == "GET":
            return self._list_generic(m2.group(1), m2.group(2))
        m3 = _SUB_RE.match(path)
        if m3 and method == "GET":
            sub = m3.group(1)
            return Response(
                200,
                {
                    "id": f"/subscriptions/{sub}",
                    "subscriptionId": sub,
                    "tenantId": TENANT_ID,
                    "displayName": "Simulated subscription",
                    "state": "Enabled",
                },
            )
        m4 = _LOCATIONS_RE.match(path)
        if m4 and method == "GET":
            return Response(200, {"value": subscription_locations(m4.group(1))})
        parsed = parse_path(path)
        if parsed is None:
            raise ArmError(
                404,
                "InvalidResourceType" if method != "GET" else "NotFound",
                f"The path '{path}' is not an ARM resource path.",
            )
        if isinstance(parsed, tuple):
            parent, scope, type_name = parsed
            if method == "GET":
                return self._list(parent, scope, type_name)
            if method == "POST" and parent is not None:
                action = type_name.rsplit("/", 1)[1]
                return self._action(parent, action, query, body, api_version)
            if method == "POST":
                # action on a top-level scope, e.g. /subscriptions/s/providers/Ns/checkNameAvailability
                raise ArmError(404, "InvalidResourceType", f"The action '{type_name}' is not supported.")
            raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed on a collection.")
        rid = parsed
        if method in ("GET", "HEAD"):
            return self._get(rid, method)
        if method in ("PUT", "PATCH"):
            return self._write(rid, method, body, api_version)
        if method == "DELETE":
            return self._delete(rid, api_version)
        if method == "POST":
            raise ArmError(405, "MethodNotAllowed", "POST is not allowed on a resource; post to an action.")
        raise ArmError(405, "MethodNotAllowed", f"{method} is not supported.")

    # ---------------------------------------------------------------- operation status

    def _op_status_or_gone(self, op_id: str, kind: str, query: dict[str, str]) -> Response:
        """The status of a known operation; 404 ``OperationNotFound`` for one never started here,
        expired, or forgotten (FaultSpec ``forget``).

        Azure keeps an operation's status only for a while, and a failed status read says nothing
        about the operation: "If the response status code is a 4xx or 5xx value, it indicates a
        failure in reading the _status_ but *not* in the underlying operation"
        (https://github.com/Azure/azure-resource-manager-rpc/blob/master/v1.0/async-api-reference.md,
        "Azure-AsyncOperation Resource format"). Resource providers answer an unknown operation id
        with 404 (e.g. https://github.com/Azure/azure-rest-api-specs/issues/27869, which azure-core
        surfaces as ``BadStatus: Invalid return status 404 for 'GET' operation``:
        https://github.com/Azure/azure-sdk-for-python/issues/35849); the code varies by provider
        (``NotFound`` with inner ``OperationNotFound``, ``OperationNotFound``), the simulator sends
        ``OperationNotFound``."""
        op = self._ops.get(op_id)
        if op is not None and not op.forgotten and self.faults.forgets():
            op.forgotten = True
            self._op_events += 1
        if op is None or op.forgotten:
            raise ArmError(
                404,
                "OperationNotFound",
                f"The operation '{op_id}' was not found. The identifier is invalid or the operation has expired.",
            )
        return self._op_status(op, kind, query)

    def _op_status(self, op: Operation, kind: str, query: dict[str, str]) -> Response:
        api_version = query.get("api-version", "2020-01-01")
        if kind == "operations":
            body: JSON = {
                "id": f"/subscriptions/{op.subscription}/providers/{op.namespace}/locations/"
                f"{op.location}/operations/{op.id}",
                "name": op.id,
                "status": op.status,
                "startTime": _iso(op.start_wall),
            }
            headers: dict[str, str] = {}
            if op.status == "InProgress":
                ms = self._retry_ms(op)
                headers = _retry_headers(ms)
            else:
                body["endTime"] = _iso(op.start_wall + (op.end - op.start))
                if op.error:
                    body["error"] = op.error
            return Response(200, body, headers, kind="poll")
        # operationResults (Location): 202 while running, then the result
        if op.status == "InProgress":
            return Response(202, None, self._op_headers(op, api_version), kind="poll")
        if op.status == "Failed":
            err = op.error or {"code": "InternalServerError", "message": "The operation failed."}
            return Response(400, {"error": err}, {}, str(err.get("code", "")), kind="poll")
        if op.kind == "delete":
            return Response(204, None, {}, kind="poll")
        if op.kind == "action":
            return Response(op.result_status if op.result is not None else 204, op.result, {}, kind="poll")
        res = self.get(op.resource_id)
        if res is None:
            return Response(204, None, {}, kind="poll")
        return Response(200, self._view(res), {}, kind="poll")

    # ---------------------------------------------------------------- existence checks

    def _not_found(self, rid: ResourceId) -> ArmError:
        if rid.is_resource_group:
            return ArmError(404, "ResourceGroupNotFound", f"Resource group '{rid.name}' could not be found.")
        if rid.resource_group and not rid.is_extension:
            rg = self.get(f"/subscriptions/{rid.subscription}/resourceGroups/{rid.resource_group}")
            if rg is None:
                return ArmError(
                    404, "ResourceGroupNotFound", f"Resource group '{rid.resource_group}' could not be found."
                )
        parent = rid.parent
        if parent is not None and self.get(parent.id) is None:
            return ArmError(
                404,
                "ParentResourceNotFound",
                f"Can not perform requested operation on nested resource. Parent resource "
                f"'{'/'.join(parent.names)}' not found.",
            )
        where = f" under resource group '{rid.resource_group}'" if rid.resource_group else ""
        return ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{rid.type.split('/', 1)[0]}/{'/'.join(_interleave(rid))}'{where} was not found. "
            "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )

    def _require_container(self, rid: ResourceId) -> None:
        """Resource group, scope and parent must exist for a write."""
        if rid.is_resource_group:
            return
        if rid.resource_group:
            rg = self.get(f"/subscriptions/{rid.subscription}/resourceGroups/{rid.resource_group}")
            if rg is None:
                raise ArmError(
                    404, "ResourceGroupNotFound", f"Resource group '{rid.resource_group}' could not be found."
                )
        if rid.is_extension and self.get(rid.scope) is None:
            raise ArmError(404, "ResourceNotFound", f"The scope '{rid.scope}' of the extension resource was not found.")
        parent = rid.parent
        if parent is not None and self.get(parent.id) is None:
            raise self._not_found(rid)

    # ---------------------------------------------------------------- GET / list

    def _get(self, rid: ResourceId, method: str) -> Response:
        res = self.get(rid.id)
        if res is None:
            if method == "HEAD":
                return Response(404, None, {}, "ResourceNotFound")
            raise self._not_found(rid)
        if method == "HEAD":
            return Response(204, None)
        return Response(200, self._view(res), {"ETag": str(res.get("etag", ""))})

    def _list(self, parent: ResourceId | None, scope: str, type_name: str) -> Response:
        low = type_name.lower()
        if parent is not None:
            if self.get(parent.id) is None:
                raise self._not_found(parent)
            items = [r for r in self.children(parent.id) if str(r.get("type", "")).lower() == low]
        else:
            scope_low = scope.lower()
            if "/resourcegroups/" in scope_low and "/providers/" not in scope_low and self.get(scope) is None:
                rg = scope.rstrip("/").rsplit("/", 1)[1]
                raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
            prefix = scope_low + "/"
            items = [
                r
                for k, r in self._res.items()
                if k.startswith(prefix)
                and str(r.get("type", "")).lower() == low
                and (
                    low == "microsoft.resources/resourcegroups"
                    or _scope_of(k) == scope_low
                    or "/resourcegroups/" not in scope_low
                )
            ]
        return Response(200, {"value": [self._view(r) for r in items]})

    def _list_generic(self, sub: str, rg: str | None) -> Response:
        if rg is not None:
            rg_id = f"/subscriptions/{sub}/resourceGroups/{rg}"
            if self.get(rg_id) is None:
                raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
            prefix = rg_id.lower() + "/providers/"
        else:
            prefix = f"/subscriptions/{sub.lower()}/resourcegroups/"
        out = []
        for k, r in self._res.items():
            if not k.startswith(prefix):
                continue
            rid = ResourceId.parse(k)
            if rid.is_resource_group or rid.is_child or rid.is_extension:
                continue
            out.append({kk: r[kk] for kk in ("id", "name", "type", "location", "tags", "sku", "kind") if kk in r})
        return Response(200, {"value": out})

    # ---------------------------------------------------------------- PUT / PATCH

    def _write(self, rid: ResourceId, method: str, body: Any, api_version: str) -> Response:
        if not isinstance(body, dict):
            raise ArmError(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized: expected a JSON object.",
            )
        rtype = get_type(rid.type)
        if rid.is_resource_group:
            return self._write_rg(rid, method, body)
        self._require_container(rid)
        existing = self.get(rid.id)
        if method == "PATCH" and existing is None:
            raise self._not_found(rid)
        self._check_lock(rid)
        _check_schema(body, rtype)
        # ---- build the proposed stored form
        if method == "PUT":
            new: JSON = {k: _copy(v) for k, v in body.items() if k not in ("id", "name", "type", "etag")}
            props = new.get("properties")
            new["properties"] = dict(props) if isinstance(props, dict) else {}
        else:
            assert existing is not None
            new = _copy(existing)
            for k, v in body.items():
                if k in ("id", "name", "type", "etag"):
                    continue
                if k == "properties" and isinstance(v, dict):
                    new.setdefault("properties", {}).update(_copy(v))
                else:
                    new[k] = _copy(v)
        new["properties"].pop("provisioningState", None)
        new = {
            "id": rid.id if existing is None else existing["id"],
            "name": rid.name if existing is None else existing["name"],
            "type": rid.type if existing is None else existing["type"],
            **new,
        }
        if rtype.requires_location and not new.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        if (
            existing is not None
            and new.get("location")
            and existing.get("location")
            and str(new["location"]).replace(" ", "").lower() != str(existing["location"]).replace(" ", "").lower()
        ):
            raise ArmError(
                400,
                "InvalidResourceLocation",
                f"The resource '{rid.name}' already exists in location '{existing['location']}'. "
                "A resource with the same name cannot be created in location "
                f"'{new['location']}'.",
            )
        # ---- inline children
        inline_new: dict[str, list[tuple[ResourceId, JSON, JSON | None]]] = {}
        dropped: list[JSON] = []
        new_children: dict[str, list[JSON]] = {}
        for prop, ctype in rtype.inline_children.items():
            current = self.children(rid.id, ctype)
            if prop not in new["properties"]:
                new_children[prop] = [_copy(c) for c in current]
                continue
            items = new["properties"].pop(prop)
            if items is None:
                items = []
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ArmError(
                    400,
                    "InvalidRequestContent",
                    f"The request content was invalid: 'properties.{prop}' must be an array of objects.",
                )
            entries: list[tuple[ResourceId, JSON, JSON | None]] = []
            seen: set[str] = set()
            for item in items:
                name = item.get("name")
                if not isinstance(name, str) or not name:
                    raise ArmError(
                        400, "InvalidRequestFormat", f"Cannot parse the request: every item of '{prop}' needs a name."
                    )
                if name.lower() in seen:
                    raise ArmError(400, "InvalidRequestFormat", f"Duplicate name '{name}' in '{prop}'.")
                seen.add(name.lower())
                crid = rid.child(ctype, name)
                cex = self.get(crid.id)
                child: JSON = {k: _copy(v) for k, v in item.items() if k not in ("id", "name", "type", "etag")}
                cp = child.get("properties")
                child["properties"] = dict(cp) if isinstance(cp, dict) else {}
                child["properties"].pop("provisioningState", None)
                child = {"id": crid.id if cex is None else cex["id"], "name": name, "type": crid.type, **child}
                _check_schema(child, get_type(crid.type))
                entries.append((crid, child, cex))
            keep = {e[0].key for e in entries}
            dropped += [c for c in current if str(c["id"]).lower() not in keep]
            inline_new[prop] = entries
            new_children[prop] = [e[1] for e in entries]
        # ---- context, references, rules
        parent_res: JSON | None = None
        siblings: list[JSON] = []
        if rid.parent is not None:
            parent_res = self.get(rid.parent.id)
            siblings = [c for c in self.children(rid.parent.id, rid.types[-1]) if str(c["id"]).lower() != rid.key]
        ctx = WriteContext(
            self, rid, method, body, new, existing, api_version, parent_res, siblings, False, new_children
        )
        self._check_references(rid, new)
        self._run_write_rules(ctx)
        for _prop, entries in inline_new.items():
            for crid, child, cex in entries:
                self._check_references(crid, child, extra_ok=rid.key)
                cctx = WriteContext(
                    self,
                    crid,
                    "PUT",
                    child,
                    child,
                    cex,
                    api_version,
                    new,
                    [e[1] for e in entries if e[1] is not child],
                    True,
                    {},
                )
                self._run_write_rules(cctx)
        for child in dropped:
            crid = ResourceId.parse(str(child["id"]))
            self._run_delete_rules(DeleteContext(self, crid, child, api_version, via_parent=True))
        # ---- server-assigned values
        rtype.on_write(ctx)
        for _prop, entries in inline_new.items():
            for crid, child, cex in entries:
                cctx = WriteContext(
                    self,
                    crid,
                    "PUT",
                    child,
                    child,
                    cex,
                    api_version,
                    new,
                    [e[1] for e in entries if e[1] is not child],
                    True,
                    {},
                )
                get_type(crid.type).on_write(cctx)
        # ---- store
        long_running = rtype.long_running
        kind = "create" if existing is None else "update"
        state = ("Creating" if existing is None else "Updating") if long_running else "Succeeded"
        affected = [rid.key]
        self._stamp(new, existing, rtype, state)
        self._res[rid.key] = new
        for child in dropped:
            self._remove_tree(str(child["id"]).lower())
        for _prop, entries in inline_new.items():
            for crid, child, cex in entries:
                ctype_obj = get_type(crid.type)
                cstate = state if long_running else "Succeeded"
                if cex is not None and cstate == "Creating":
                    cstate = "Updating"
                self._stamp(child, cex, ctype_obj, cstate)
                self._res[crid.key] = child
                affected.append(crid.key)
        self._version += 1
        status = rtype.create_status if existing is None else rtype.update_status
        if not long_running:
            for key in affected:
                res = self._res[key]
                get_type(str(res["type"])).on_provisioned(self, res)
            return Response(status, self._view(new), {}, kind="write", created=existing is None)
        op = self._start_op(kind, rid, rtype.latency(kind), str(new.get("location") or "") or None, affected)
        body = None if status == 202 else self._view(new)
        return Response(status, body, self._op_headers(op, api_version), kind="write", created=existing is None)

    def _cascade_on_delete(self, rg_key: str) -> None:
        """Run ``on_delete`` of every resource in a resource group being deleted, deepest first
        (children and extension resources before their parents).

        Deleting a resource group deletes each resource in it the way deleting the resource
        does (https://learn.microsoft.com/azure/azure-resource-manager/management/delete-resource-group).
        A Key Vault in it is soft-deleted, so its name stays taken until it is purged or recovered
        (https://github.com/Azure/az-hop/issues/1443: deleting the resource group left the vault
        soft-deleted and the redeployment failed; https://github.com/Azure/ARO-HCP/pull/2089 and
        https://github.com/Azure/bicep-registry-modules/pull/74 purge soft-deleted vaults after
        resource-group cleanup for that reason). An AKS cluster's node resource group goes with the cluster
        (https://learn.microsoft.com/azure/aks/faq#why-are-two-resource-groups-created-with-aks).
        """
        prefix = rg_key + "/"
        keys = sorted((k for k in self._res if k.startswith(prefix)), key=lambda k: (-k.count("/"), k))
        for key in keys:
            res = self._res.get(key)
            if res is None:  # removed by an earlier cascade
                continue
            try:
                rid = ResourceId.parse(str(res.get("id", key)))
                get_type(rid.type).on_delete(DeleteContext(self, rid, res, ""))
            except ArmError:
                continue  # a resource group delete does not fail on one resource's hook
        self._version += 1

    def _stamp(self, res: JSON, existing: JSON | None, rtype: ResourceType, state: str) -> None:
        res["etag"] = self._etag()
        props = res.setdefault("properties", {})
        props["provisioningState"] = state
        if rtype.resource_guid:
            old = deep_get(existing, "properties.resourceGuid") if existing else None
            props["resourceGuid"] = old or self.new_guid()

    def _write_rg(self, rid: ResourceId, method: str, body: JSON) -> Response:
        existing = self.get(rid.id)
        if existing is not None and self._state(existing) == "Deleting":
            raise ArmError(
                409,
                "ResourceGroupBeingDeleted",
                f"The resource group '{rid.name}' is in deprovisioning state and cannot perform this operation.",
            )
        if method == "PATCH":
            if existing is None:
                raise self._not_found(rid)
            if "tags" in body:
                existing["tags"] = _copy(body["tags"])
            existing["etag"] = self._etag()
            self._version += 1
            return Response(200, self._view(existing), kind="write")
        loc = body.get("location")
        if not isinstance(loc, str) or not loc:
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        if existing is None and loc.replace(" ", "").lower() not in REGIONS["public"]:
            # Azure refuses a resource group in a region it does not have, naming the ones it has:
            # https://github.com/Azure/azure-cli/issues/16368 (LocationNotAvailableForResourceGroup)
            raise ArmError(
                400,
                "LocationNotAvailableForResourceGroup",
                f"The provided location '{loc}' is not available for resource group. List of available regions "
                f"is '{','.join(sorted(REGIONS['public']))}'.",
            )
        if existing is not None and str(existing.get("location", "")).lower() != loc.replace(" ", "").lower():
            raise ArmError(
                409,
                "InvalidResourceGroupLocation",
                f"Invalid resource group location '{loc}'. The Resource group already exists in "
                f"location '{existing.get('location')}'.",
            )
        tags = body.get("tags")
        if tags is not None and not (isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())):
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid: tags must be strings.")
        res: JSON = {
            "id": existing["id"] if existing else rid.id,
            "name": existing["name"] if existing else rid.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": loc.replace(" ", "").lower(),
            "tags": tags or {},
            "properties": {"provisioningState": "Succeeded"},
        }
        if body.get("managedBy"):
            res["managedBy"] = body["managedBy"]
        res["etag"] = self._etag()
        self._res[rid.key] = res
        self._version += 1
        get_type(rid.type).on_provisioned(self, res)
        view = self._view(res)
        view.pop("etag", None)
        return Response(201 if existing is None else 200, view, kind="write", created=existing is None)

    def _check_lock(self, rid: ResourceId) -> None:
        op = self._active.get(rid.root.key)
        if op is not None and op.status == "InProgress":
            status_url = self._op_headers(op, "2024-05-01")["Azure-AsyncOperation"]
            # 409 Conflict: https://github.com/Azure/sap-automation/issues/1052
            raise ArmError(
                409,
                "AnotherOperationInProgress",
                "Another operation on this or dependent resource is in progress. To retrieve status of the "
                f"operation use uri: {status_url}.",
            )

    def _check_references(self, rid: ResourceId, res: JSON, extra_ok: str | None = None) -> None:
        own = rid.key
        rtype = get_type(rid.type)
        for path, ref, _owner in _walk_refs(res, "", str(res.get("id", ""))):
            low = ref.lower().rstrip("/")
            if path in ("id",) or low == own or low.startswith(own + "/"):
                continue
            if extra_ok and (low == extra_ok or low.startswith(extra_ok + "/")):
                continue
            if any(path == p or path.startswith(p + ".") for p in rtype.unchecked_reference_paths):
                continue
            if path.startswith("properties.") is False and path.split(".")[0] not in ("identity",):
                # only references in properties (and identity) are checked
                continue
            target = self._resolve_ref(low)
            if target is None:
                # https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-not-found
                raise ArmError(
                    400,
                    "InvalidResourceReference",
                    f"Resource {ref} referenced by resource {rid.id} was not found. Please make sure that the "
                    "referenced resource exists, and that both resources are in the same region.",
                    details=[{"code": "NotFound", "message": f"Resource {ref} not found.", "target": path}],
                )
            state = self._effective_state(target)
            if state in IN_PROGRESS_STATES:
                # https://github.com/Azure-Samples/azuresandbox/issues/25
                raise ArmError(
                    400,
                    "ReferencedResourceNotProvisioned",
                    f"Cannot proceed with operation because resource {target['id']} used by resource {rid.id} "
                    f"is not in Succeeded state. Resource is in {state} state and the last operation that "
                    "updated/is updating the resource is Put"
                    + str(target.get("type", "")).rsplit("/", 1)[-1]
                    + "Operation.",
                )

    def _resolve_ref(self, low: str) -> JSON | None:
        res = self._res.get(low)
        if res is not None:
            return res
        # a sub-object of a stored resource (e.g. a NIC's ipConfiguration, a firewall ipConfiguration)
        parts = low.split("/")
        for cut in range(len(parts) - 2, 4, -2):
            anc = self._res.get("/".join(parts[:cut]))
            if anc is not None:
                for _p, rid_str in _iter_object_ids(anc):
                    if rid_str.lower() == low:
                        return anc
                return None
        return None

    def _run_write_rules(self, ctx: WriteContext) -> None:
        for rule in write_rules_for(ctx.rid.type):
            msg = rule.check(ctx)
            if msg:
                raise ArmError(rule.status, rule.code, msg)
        get_type(ctx.rid.type).validate(ctx)

    def _run_delete_rules(self, ctx: DeleteContext) -> None:
        for rule in delete_rules_for(ctx.rid.type):
            msg = rule.check(ctx)
            if msg:
                raise ArmError(rule.status, rule.code, msg)
        get_type(ctx.rid.type).validate_delete(ctx)

    # ---------------------------------------------------------------- DELETE

    def _delete(self, rid: ResourceId, api_version: str) -> Response:
        res = self.get(rid.id)
        rtype = get_type(rid.type)
        if rid.is_resource_group:
            if res is None:
                raise self._not_found(rid)
            if self._state(res) == "Deleting":
                op_running = [
                    o for o in self._ops.values() if o.status == "InProgress" and o.resource_id.lower() == rid.key
                ]
                if op_running:
                    return Response(202, None, self._op_headers(op_running[0], api_version), kind="delete")
            res["properties"]["provisioningState"] = "Deleting"
            self._version += 1
            op = self._start_op("delete", rid, rtype.latency("delete"), str(res.get("location", "")), [rid.key])
            return Response(202, None, self._op_headers(op, api_version), kind="delete")
        if res is None:
            return Response(204, None, kind="delete")
        self._check_lock(rid)
        ctx = DeleteContext(self, rid, res, api_version)
        self._run_delete_rules(ctx)
        delete_lro = rtype.long_running if rtype.delete_long_running is None else rtype.delete_long_running
        if not delete_lro:
            rtype.on_delete(ctx)
            body = rtype.delete_result(self._view(res))
            self._remove_tree(rid.key)
            return Response(200, body, kind="delete")
        prefix = rid.key + "/"
        affected = [
            k for k in self._res if k == rid.key or (k.startswith(prefix) and "/providers/" not in k[len(prefix) :])
        ]
        for k in affected:
            self._res[k].setdefault("properties", {})["provisioningState"] = "Deleting"
        self._version += 1
        op = self._start_op("delete", rid, rtype.latency("delete"), str(res.get("location", "")), affected)
        return Response(202, None, self._op_headers(op, api_version), kind="delete")

    # ---------------------------------------------------------------- POST actions

    def _action(self, rid: ResourceId, action: str, query: dict[str, str], body: Any, api_version: str) -> Response:
        res = self.get(rid.id)
        if res is None:
            raise self._not_found(rid)
        rtype = get_type(rid.type)
        ctx = ActionContext(self, rid, action, res, body if isinstance(body, dict) else {}, query, api_version)
        result = rtype.action(ctx)
        if result.latency_s <= 0:
            return Response(result.status, result.body, {}, kind="write")
        self._check_lock(rid)
        op = self._start_op("action", rid, result.latency_s, str(res.get("location", "")), [])
        op.result = result.body
        op.result_status = result.status
        return Response(202, None, self._op_headers(op, api_version), kind="write")


# ==================================================================== module helpers


def _is_rg_key(key: str) -> bool:
    parts = key.strip("/").split("/")
    return len(parts) == 4 and parts[0] == "subscriptions" and parts[2] == "resourcegroups"


def _interleave(rid: ResourceId) -> list[str]:
    out: list[str] = []
    for t, n in zip(rid.types, rid.names, strict=False):
        out += [t, n]
    return out


def _scope_of(key: str) -> str:
    try:
        rid = ResourceId.parse(key)
    except ArmError:
        return ""
    return rid.scope.lower()


def _check_schema(body: JSON, rtype: ResourceType) -> None:
    """Generic shape checks plus the type's schema -> 400 InvalidRequestContent."""
    checks: dict[str, str] = {"location": "str", "tags": "object", "properties": "object"}
    checks.update(rtype.schema)
    for path, kind in checks.items():
        val = deep_get(body, path)
        if val is None:
            continue
        if not _kind_check(val, kind):
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: 'Error converting value at "
                f"path '{path}': expected {kind}, got {type(val).__name__}'.",
            )
    tags = body.get("tags")
    if isinstance(tags, dict) and not all(isinstance(v, str) for v in tags.values()):
        raise ArmError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: tag values must be strings.",
        )


_ID_RE = re.compile(r"^/subscriptions/[^/]+/", re.IGNORECASE)


def _walk_refs(obj: Any, path: str, owner: str) -> Iterator[tuple[str, str, str]]:
    """Yield (path, referenced id, owner id) for ARM ids nested in ``obj`` (not the object's own id)."""
    if isinstance(obj, dict):
        own = obj.get("id")
        if path and isinstance(own, str) and _ID_RE.match(own) and len(obj) > 1:
            # an object with its own id and more fields is a sub-resource: it owns nested references
            owner = own
        for k, v in obj.items():
            p = f"{path}.{k}" if path else k
            if isinstance(v, str):
                if k == "id" and path and len(obj) > 1:
                    continue  # a sub-resource's own id, not a reference
                if k == "id" and not path:
                    continue
                if k.lower().endswith("id") and _ID_RE.match(v):
                    yield p, v, owner
            elif isinstance(v, (dict, list)):
                if k in ("userAssignedIdentities",) and isinstance(v, dict):
                    for ident in v:
                        if _ID_RE.match(ident):
                            yield f"{p}.{ident}", ident, owner
                    continue
                yield from _walk_refs(v, p, owner)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk_refs(v, f"{path}.{i}" if path else str(i), owner)


def _iter_object_ids(obj: Any) -> Iterator[tuple[str, str]]:
    """Every ``id`` field of nested objects (sub-resource ids)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "id" and isinstance(v, str):
                yield k, v
            elif isinstance(v, (dict, list)):
                yield from _iter_object_ids(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _iter_object_ids(v)


def _retry_headers(ms: int) -> dict[str, str]:
    """Retry headers for a scaled interval of ``ms`` milliseconds (never 0).

    ARM sends ``Retry-After`` in whole seconds, and the SDKs deserialize it as an int.
    azure-core reads ``Retry-After`` *before* ``retry-after-ms`` (``get_retry_after`` in
    azure/core/pipeline/policies/_utils.py), so at simulator time scales (intervals below
    one second) only ``retry-after-ms`` is sent; from one second up both are.
    """
    ms = max(ms, 1)
    headers = {"retry-after-ms": str(ms)}
    if ms >= 1000:
        headers["Retry-After"] = str(ms // 1000)
    return headers
