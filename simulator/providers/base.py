"""The per-resource-type plugin interface of the ARM simulator.

A provider module (``simulator/providers/<name>.py``) declares one subclass of
:class:`ResourceType` per ARM resource type and decorates it with
:func:`register`. The core (``hubspoke_deploy.simulator.store`` / ``server``)
does the generic ARM work -- ids, PUT/PATCH/GET/DELETE/list, long-running
operations, locks, inline child views, reference checks, faults -- and calls
the hooks below for anything type-specific. Validation rules are data: a list
of :class:`WriteRule` / :class:`DeleteRule` objects, each with the ARM status,
error code and the URL where Azure documents the behaviour.

See ``simulator/PROVIDERS.md`` for the guide. Keep this interface stable.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

JSON = dict[str, Any]

__all__ = [
    "JSON",
    "ActionContext",
    "ActionResult",
    "ArmError",
    "DeleteContext",
    "DeleteRule",
    "Reference",
    "ResourceId",
    "ResourceType",
    "Settings",
    "Store",
    "WriteContext",
    "WriteRule",
    "all_types",
    "deep_get",
    "deep_set",
    "delete_rules_for",
    "get_type",
    "iter_ids",
    "latency_table",
    "load_providers",
    "register",
    "register_rule",
    "register_seed",
    "register_view_hook",
    "seed_hooks",
    "view_hooks_for",
    "write_rules_for",
]


# --------------------------------------------------------------------------- errors


class ArmError(Exception):
    """An ARM error response. Raise it from any hook; the server answers with
    ``status`` and the body ``{"error": {"code": code, "message": message, "details": [...]}}``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[JSON] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> JSON:
        err: JSON = {"code": self.code, "message": self.message}
        if self.details:
            err["details"] = self.details
        return {"error": err}


# --------------------------------------------------------------------------- ids

_KEYWORDS = {"subscriptions": "subscriptions", "resourcegroups": "resourceGroups", "providers": "providers"}


@dataclass(frozen=True)
class ResourceId:
    """A parsed ARM resource id (or collection path).

    ``scope`` is everything before the last ``/providers/`` segment ('' at tenant
    level, ``/subscriptions/s``, ``/subscriptions/s/resourceGroups/rg`` or another
    resource's id for extension resources). ``types``/``names`` are the type and
    name segments after the namespace. Resource groups are represented with
    ``namespace="Microsoft.Resources"``, ``types=("resourceGroups",)``.
    """

    id: str
    subscription: str | None
    resource_group: str | None
    scope: str
    namespace: str
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def key(self) -> str:
        """Lower-cased id: the store key."""
        return self.id.lower()

    @property
    def type(self) -> str:
        """The full type, e.g. ``Microsoft.Network/virtualNetworks/subnets``."""
        return "/".join((self.namespace, *self.types))

    @property
    def name(self) -> str:
        return self.names[-1] if self.names else ""

    @property
    def is_resource_group(self) -> bool:
        return self.namespace.lower() == "microsoft.resources" and self.types == ("resourceGroups",)

    @property
    def is_child(self) -> bool:
        return len(self.types) > 1

    @property
    def is_extension(self) -> bool:
        """True when the scope is itself a resource (``.../providers/X/y/z/providers/...``)."""
        return "/providers/" in self.scope.lower()

    @property
    def parent(self) -> ResourceId | None:
        """The parent resource of a child resource (None for top-level resources)."""
        if not self.is_child:
            return None
        return ResourceId(
            id=self.id.rsplit("/", 2)[0],
            subscription=self.subscription,
            resource_group=self.resource_group,
            scope=self.scope,
            namespace=self.namespace,
            types=self.types[:-1],
            names=self.names[:-1],
        )

    @property
    def root(self) -> ResourceId:
        """The top-level resource of this resource's tree (itself when top-level)."""
        rid: ResourceId = self
        while rid.parent is not None:
            rid = rid.parent
        return rid

    def child(self, child_type: str, name: str) -> ResourceId:
        return ResourceId(
            id=f"{self.id}/{child_type}/{name}",
            subscription=self.subscription,
            resource_group=self.resource_group,
            scope=self.scope,
            namespace=self.namespace,
            types=(*self.types, child_type),
            names=(*self.names, name),
        )

    @staticmethod
    def parse(resource_id: str) -> ResourceId:
        """Parse a full resource id. Raises :class:`ArmError` 400 ``InvalidResourceId``."""
        rid = parse_path(resource_id)
        if rid is None or isinstance(rid, tuple):
            raise ArmError(400, "LinkedInvalidPropertyId", f"Property id '{resource_id}' is invalid.")
        return rid


def _norm_segments(path: str) -> list[str]:
    segs = [s for s in path.split("/") if s]
    out: list[str] = []
    for i, s in enumerate(segs):
        low = s.lower()
        # keywords sit at fixed positions relative to their value; normalise their casing
        if low in _KEYWORDS and (i % 2 == 0 or low == "providers"):
            out.append(_KEYWORDS[low])
        else:
            out.append(s)
    return out


def parse_path(path: str) -> ResourceId | tuple[ResourceId | None, str, str] | None:
    """Parse a URL path.

    Returns a :class:`ResourceId` for a resource or resource group, a tuple
    ``(parent_or_None, scope, type)`` for a collection path (``parent`` is the
    parent resource for child collections, ``scope`` the scope of the
    collection and ``type`` the full type), or None when the path is not an ARM
    resource path.
    """
    segs = _norm_segments(path.split("?", 1)[0])
    if not segs:
        return None
    # find the last "providers" keyword (extension resources have several)
    prov_idx = -1
    for i, s in enumerate(segs):
        if s == "providers" and i + 1 < len(segs):
            prov_idx = i
    sub: str | None = segs[1] if len(segs) >= 2 and segs[0] == "subscriptions" else None
    rg: str | None = segs[3] if len(segs) >= 4 and sub and segs[2] == "resourceGroups" else None
    if prov_idx < 0:
        if sub is None:
            return None
        if len(segs) == 4 and rg is not None:
            return ResourceId(
                id=f"/subscriptions/{sub}/resourceGroups/{rg}",
                subscription=sub,
                resource_group=rg,
                scope=f"/subscriptions/{sub}",
                namespace="Microsoft.Resources",
                types=("resourceGroups",),
                names=(rg,),
            )
        if len(segs) == 3 and segs[2] == "resourceGroups":
            return (None, f"/subscriptions/{sub}", "Microsoft.Resources/resourceGroups")
        return None
    scope = "/" + "/".join(segs[:prov_idx]) if prov_idx > 0 else ""
    rest = segs[prov_idx + 1 :]
    namespace = rest[0]
    tn = rest[1:]
    if not tn:
        return None
    types = tuple(tn[0::2])
    names = tuple(tn[1::2])
    if len(types) == len(names):
        return ResourceId(
            id=f"{scope}/providers/{namespace}/" + "/".join(tn),
            subscription=sub,
            resource_group=rg,
            scope=scope,
            namespace=namespace,
            types=types,
            names=names,
        )
    # collection (odd number of segments)
    parent: ResourceId | None = None
    if names:
        parent = ResourceId(
            id=f"{scope}/providers/{namespace}/" + "/".join(tn[:-1]),
            subscription=sub,
            resource_group=rg,
            scope=scope,
            namespace=namespace,
            types=types[:-1],
            names=names,
        )
    return (parent, scope, "/".join((namespace, *types)))


# --------------------------------------------------------------------------- JSON helpers


def deep_get(obj: Any, path: str, default: Any = None) -> Any:
    """``deep_get(res, "properties.addressSpace.addressPrefixes")``; ``a.0.b`` indexes lists."""
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return default
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return default
    return cur


def deep_set(obj: JSON, path: str, value: Any) -> None:
    """Set a dotted path, creating intermediate dicts."""
    parts = path.split(".")
    cur: Any = obj
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    cur[parts[-1]] = value


_ID_RE = re.compile(r"^/subscriptions/[^/]+/", re.IGNORECASE)


def iter_ids(obj: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield ``(dotted_path, id)`` for every ``"id": "/subscriptions/..."`` string
    nested in ``obj`` (any key ending in ``id``/``Id``/``ID`` whose value is an
    ARM id, e.g. ``subnet.id``, ``vnetSubnetID``, ``workspaceId``)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{path}.{k}" if path else k
            if isinstance(v, str):
                if k.lower().endswith("id") and _ID_RE.match(v):
                    yield p, v
            else:
                yield from iter_ids(v, p)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from iter_ids(v, f"{path}.{i}" if path else str(i))


# --------------------------------------------------------------------------- store protocol


@dataclass
class Settings:
    """Simulator-wide settings visible to providers."""

    time_scale: float = 0.002
    principal_delay_s: float = 20.0  # real-world seconds (multiply by time_scale for wall time)
    seed: int = 0
    #: lower-cased object ids of principals the simulator did not create (users, groups, service
    #: principals of the tenant) that role assignments may name: ``Simulator(known_principals=...)``
    known_principals: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Reference:
    """A resource that references another one in its body."""

    resource: JSON  # the referring resource (stored form)
    path: str  # dotted path of the id inside ``resource``
    owner_id: str  # id of the innermost object around the reference that has its own "id"
    # (e.g. a NIC's ipConfiguration), else the referring resource's id


class Store(Protocol):
    """What hooks may do with the simulator's state. All ids are case-insensitive.

    Hooks run with the store lock held: never block, never call the server over HTTP.
    """

    settings: Settings

    def get(self, resource_id: str) -> JSON | None:
        """The stored resource (a live dict: copy before mutating unless you mean to)."""

    def view(self, resource_id: str) -> JSON | None:
        """The resource as a GET returns it (inline children, back-references, secrets removed)."""

    def children(self, parent_id: str, child_type: str | None = None) -> list[JSON]:
        """Direct child resources (``child_type`` is the last type segment, e.g. ``subnets``)."""

    def find(self, type_name: str, subscription: str | None = None) -> list[JSON]:
        """All stored resources of a full type (``Microsoft.Network/virtualNetworks``)."""

    def referrers(self, target_id: str) -> list[Reference]:
        """Every stored resource whose body references ``target_id`` (case-insensitive)."""

    def put(self, resource: JSON) -> None:
        """Insert/replace a resource synchronously (no LRO, no rules). ``resource['id']`` is required;
        ``name``/``type``/``etag`` are filled in. Use for side effects (e.g. a node resource group)."""

    def delete(self, resource_id: str) -> None:
        """Remove a resource with its children and extension resources, synchronously."""

    def now(self) -> float:
        """Wall-clock time (``time.time()``) used for operation timing and principal creation
        times; wall-clock so that both survive a restart of a persistent simulator."""

    def new_guid(self) -> str:
        """A new GUID (deterministic for a given seed)."""

    def busy(self, resource_id: str) -> bool:
        """True when an operation on the resource's tree is in progress."""


# --------------------------------------------------------------------------- contexts


@dataclass
class WriteContext:
    """Passed to write rules and the write hooks.

    ``resource`` is the proposed new stored form (id/name/type set, body merged;
    PATCH already merged into the existing resource). Hooks may mutate it
    (server-assigned values). ``parent`` is the parent as it will be after the
    write (for a child written through its parent's inline list, the proposed
    parent); ``siblings`` are the other children of the same type under that
    parent after the write.
    """

    store: Store
    rid: ResourceId
    method: str
    body: JSON
    resource: JSON
    existing: JSON | None
    api_version: str
    parent: JSON | None = None
    siblings: list[JSON] = field(default_factory=list)
    inline: bool = False
    # children that a parent PUT will have after the write, by inline property
    # (e.g. {"subnets": [...]}) -- for parent rules that need them.
    new_children: dict[str, list[JSON]] = field(default_factory=dict)

    @property
    def is_create(self) -> bool:
        return self.existing is None

    @property
    def props(self) -> JSON:
        p = self.resource.setdefault("properties", {})
        assert isinstance(p, dict)
        return p


@dataclass
class DeleteContext:
    store: Store
    rid: ResourceId
    resource: JSON
    api_version: str
    via_parent: bool = False  # True when removed because a parent's inline list dropped it


@dataclass
class ActionContext:
    store: Store
    rid: ResourceId  # the resource the action is posted to
    action: str  # the action name as in the URL (e.g. listClusterUserCredential)
    resource: JSON | None  # stored resource (None for subscription-level actions)
    body: JSON
    query: dict[str, str]
    api_version: str


@dataclass
class ActionResult:
    """Result of a POST action. ``latency_s`` > 0 makes it a long-running operation (202 +
    Azure-AsyncOperation/Location; the final GET of Location returns ``body``)."""

    status: int = 200
    body: Any = None
    latency_s: float = 0.0


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class WriteRule:
    """A validation rule run on PUT/PATCH (also for children written inline through the parent).

    ``check`` returns None when fine, or the error message. ``resource_type`` is the full
    type (case-insensitive) or ``"*"`` for every type. ``citation`` is the URL documenting it.
    """

    id: str
    resource_type: str
    check: Callable[[WriteContext], str | None]
    status: int
    code: str
    citation: str


@dataclass(frozen=True)
class DeleteRule:
    """A rule run before a DELETE is accepted (and when a parent's inline list drops a child)."""

    id: str
    resource_type: str
    check: Callable[[DeleteContext], str | None]
    status: int
    code: str
    citation: str


_WRITE_RULES: list[WriteRule] = []
_DELETE_RULES: list[DeleteRule] = []


def register_rule(rule: WriteRule | DeleteRule) -> None:
    """Add a rule to the table (also for a type owned by another module)."""
    target: list[Any] = _WRITE_RULES if isinstance(rule, WriteRule) else _DELETE_RULES
    if any(r.id == rule.id for r in target):
        return
    target.append(rule)


def write_rules_for(type_name: str) -> list[WriteRule]:
    low = type_name.lower()
    return [r for r in _WRITE_RULES if r.resource_type == "*" or r.resource_type.lower() == low]


def delete_rules_for(type_name: str) -> list[DeleteRule]:
    low = type_name.lower()
    return [r for r in _DELETE_RULES if r.resource_type == "*" or r.resource_type.lower() == low]


def all_rules() -> list[WriteRule | DeleteRule]:
    return [*_WRITE_RULES, *_DELETE_RULES]


# --------------------------------------------------------------------------- seeding and view hooks

#: ``fn(store, subscription)``: store what Azure has before any request (built-in role
#: definitions, ...). Called with ``None`` when the simulator starts or is reset, then once per
#: subscription, before the first request naming it is handled. Must be idempotent (a restored
#: snapshot already holds what an earlier run seeded).
SeedHook = Callable[["Store", "str | None"], None]
#: ``fn(store, view)``: mutate the view of a resource of *another module's* type (e.g. the
#: ``virtualMachine`` back-reference of a NIC, computed by the compute provider).
ViewHook = Callable[["Store", JSON], None]

_SEEDS: list[tuple[str, SeedHook]] = []
_VIEW_HOOKS: list[tuple[str, str, ViewHook]] = []


def register_seed(name: str, fn: SeedHook) -> None:
    """Register a start-up seeding hook (see :data:`SeedHook`). ``name`` makes it idempotent."""
    if any(n == name for n, _ in _SEEDS):
        return
    _SEEDS.append((name, fn))


def seed_hooks() -> list[SeedHook]:
    load_providers()
    return [fn for _, fn in _SEEDS]


def register_view_hook(name: str, resource_type: str, fn: ViewHook) -> None:
    """Run ``fn(store, view)`` on every view (GET, list, PUT response, ``sim.resources()``) of
    ``resource_type``, after that type's own ``on_read``. For back-references owned by another
    type: compute them from ``store.referrers(view["id"])`` instead of storing them on the
    target, so a later PUT of the target cannot drop them."""
    if any(n == name for n, _, _ in _VIEW_HOOKS):
        return
    _VIEW_HOOKS.append((name, resource_type.lower(), fn))


def view_hooks_for(type_name: str) -> list[ViewHook]:
    low = type_name.lower()
    return [fn for _, t, fn in _VIEW_HOOKS if t == low or t == "*"]


# --------------------------------------------------------------------------- resource types


class ResourceType:
    """Behaviour of one ARM resource type. Subclass, set the class attributes, override hooks.

    The defaults give the generic behaviour used for unregistered types: store what
    was PUT, add id/name/type/etag/provisioningState, LRO with ``create_latency_s``.
    """

    #: full type, e.g. "Microsoft.Network/virtualNetworks" or ".../virtualNetworks/subnets"
    type_name: ClassVar[str] = ""
    #: real-world seconds for create / update / delete (multiplied by the time scale)
    create_latency_s: ClassVar[float] = 5.0
    update_latency_s: ClassVar[float | None] = None  # None: same as create
    delete_latency_s: ClassVar[float | None] = None  # None: half of create
    #: False: PUT answers 200/201 with provisioningState Succeeded, DELETE 200/204, no LRO
    long_running: ClassVar[bool] = True
    # HTTP status of a successful create. ARM says 201, but some RPs answer otherwise and
    # their SDKs accept only that: storage accounts 202 with no body
    # (https://learn.microsoft.com/rest/api/storagerp/storage-accounts/create#response),
    # diagnostic settings 200
    # (https://learn.microsoft.com/rest/api/monitor/diagnostic-settings/create-or-update).
    create_status: ClassVar[int] = 201
    # status of a synchronous PUT that updates (policy assignments answer 201 to both:
    # https://learn.microsoft.com/rest/api/policy/policy-assignments/create)
    update_status: ClassVar[int] = 200
    # a synchronous DELETE answers 200 with the deleted resource (policy assignments), else no body
    delete_returns_body: ClassVar[bool] = False
    # DELETE long-running or not; None: same as ``long_running`` (vault and storage deletes are
    # synchronous while their creates are LROs).
    delete_long_running: ClassVar[bool | None] = None
    #: PUT without "location" is refused with 400 LocationRequired
    requires_location: ClassVar[bool] = False
    #: inline child views: property under "properties" -> child type segment,
    #: e.g. {"subnets": "subnets"} on virtualNetworks
    inline_children: ClassVar[dict[str, str]] = {}
    #: dotted paths removed from every GET / PUT response (secrets Azure never returns)
    secret_paths: ClassVar[tuple[str, ...]] = ()
    #: dotted path -> kind ("str", "int", "bool", "list", "list[str]", "list[object]", "object");
    #: a mismatch is 400 InvalidRequestContent
    schema: ClassVar[dict[str, str]] = {}
    #: dotted-path prefixes whose ids are not checked for existence by the core
    unchecked_reference_paths: ClassVar[tuple[str, ...]] = ()
    #: add "resourceGuid" to properties on create (network resources do)
    resource_guid: ClassVar[bool] = False

    def latency(self, kind: str) -> float:
        """Real-world seconds for ``kind`` in {"create", "update", "delete"}."""
        if kind == "create":
            return self.create_latency_s
        if kind == "update":
            return self.update_latency_s if self.update_latency_s is not None else self.create_latency_s
        return self.delete_latency_s if self.delete_latency_s is not None else self.create_latency_s / 2

    # ---- write path (PUT / PATCH), in this order:
    def validate(self, ctx: WriteContext) -> None:
        """Extra checks beyond the rule table. Raise ArmError."""

    def on_write(self, ctx: WriteContext) -> None:
        """Fill server-assigned values into ``ctx.resource`` (stable ones: copy from ctx.existing)."""

    def on_provisioned(self, store: Store, resource: JSON) -> None:
        """Called when the create/update operation succeeds (resource already Succeeded)."""

    # ---- delete path
    def validate_delete(self, ctx: DeleteContext) -> None:
        """Extra delete checks beyond the rule table. Raise ArmError."""

    def on_delete(self, ctx: DeleteContext) -> None:
        """Called when the delete completes, just before the resource is removed (cascades)."""

    def delete_result(self, view: JSON) -> Any:
        """Body of a synchronous DELETE's 200: the deleted resource with ``delete_returns_body``, else none
        (Traffic Manager answers a ``DeleteOperationResult``)."""
        return view if self.delete_returns_body else None

    # ---- read path
    def on_read(self, store: Store, view: JSON) -> None:
        """Mutate ``view`` (a deep copy of the stored resource) into what GET returns
        (computed states, back-references)."""

    # ---- POST actions: define ``def action_<lowercasename>(self, ctx) -> ActionResult``
    def action(self, ctx: ActionContext) -> ActionResult:
        fn = getattr(self, "action_" + ctx.action.lower(), None)
        if fn is None:
            raise ArmError(
                404,
                "NoRegisteredProviderFound" if ctx.resource is None else "InvalidResourceOperation",
                f"The action '{ctx.action}' is not supported on resource type '{ctx.rid.type}'.",
            )
        result: ActionResult = fn(ctx)
        return result


class GenericType(ResourceType):
    """Fallback for unregistered types (``type_name`` set per instance)."""


def _generic(type_name: str) -> ResourceType:
    cls = type("GenericType", (GenericType,), {"type_name": type_name})
    inst: ResourceType = cls()
    return inst


_REGISTRY: dict[str, ResourceType] = {}
_LOADED = False


def register(cls: type[ResourceType]) -> type[ResourceType]:
    """Class decorator: ``@register class VirtualNetworks(ResourceType): type_name = "..."``."""
    if not cls.type_name:
        raise ValueError(f"{cls.__name__} has no type_name")
    _REGISTRY[cls.type_name.lower()] = cls()
    return cls


def get_type(type_name: str) -> ResourceType:
    """The registered behaviour for a full type, or the generic behaviour."""
    load_providers()
    found = _REGISTRY.get(type_name.lower())
    if found is not None:
        return found
    return _generic(type_name)


def all_types() -> dict[str, ResourceType]:
    load_providers()
    return {t.type_name: t for t in _REGISTRY.values()}


def latency_table() -> dict[str, float]:
    """``{full type: create latency in real-world seconds}`` for every registered type."""
    return {name: t.create_latency_s for name, t in all_types().items()}


def load_providers() -> None:
    """Import every module in ``hubspoke_deploy.simulator.providers`` (those present)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    pkg = importlib.import_module("hubspoke_deploy.simulator.providers")
    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name in ("base",) or mod.name.startswith("_"):
            continue
        importlib.import_module(f"hubspoke_deploy.simulator.providers.{mod.name}")
