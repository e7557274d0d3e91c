"""Wiring: from a config to a ready engine (credential, clients, state lock, checkpoint).

``open_session`` is the single place where a run acquires its resources; it is
a context manager so the lock is released and clients closed on every path.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from hubspoke_deploy.errors import AuthenticationFailed, AzureUnreachable, ConfigError, Problem, StepFailed
from hubspoke_deploy.orchestrator.checkpoint import Checkpoint, digest
from hubspoke_deploy.orchestrator.clients import Clients, RetrySettings
from hubspoke_deploy.orchestrator.engine import Engine, EngineOptions, EventCallback
from hubspoke_deploy.orchestrator.retry import RetryPolicy
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.orchestrator.throttle import AdaptiveLimiter
from hubspoke_deploy.regions import REGIONS, check_location_online

ARM_SCOPE = "https://management.azure.com/.default"


def is_loopback_url(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_credential(cfg: Any, endpoint: str, env: Mapping[str, str]) -> Any:
    """The credential named by ``[azure] credential``."""
    kind = cfg.azure.credential
    if kind == "simulator":
        if not is_loopback_url(endpoint):
            raise ConfigError(
                Problem(
                    "azure.credential",
                    f"the 'simulator' development token is refused for the non-loopback endpoint {endpoint}",
                    "use credential = \"default\" (or cli / managed-identity / workload-identity) for real Azure",
                )
            )
        from hubspoke_deploy.simulator import SimulatorCredential

        return SimulatorCredential()
    import azure.identity as identity

    if kind == "cli":
        return identity.AzureCliCredential(tenant_id=cfg.azure.tenant_id)
    if kind == "managed-identity":
        return identity.ManagedIdentityCredential(client_id=cfg.azure.managed_identity_client_id)
    if kind == "workload-identity":
        return identity.WorkloadIdentityCredential()
    # Only the credentials that can sign in without a person at the keyboard: the interactive
    # ones (browser, broker) and VS Code's (which needs the broker) are left out, so an agent
    # with no login fails in seconds. The managed identity in the chain probes IMDS once with a
    # 1 s connection timeout before asking it for a token.
    return identity.DefaultAzureCredential(
        managed_identity_client_id=cfg.azure.managed_identity_client_id,
        exclude_interactive_browser_credential=True,
        exclude_broker_credential=True,
        exclude_visual_studio_code_credential=True,
        process_timeout=10,
    )


CREDENTIAL_FIX = (
    "Fix: sign in with `az login` (credential = \"cli\" or \"default\"), or set [azure] credential "
    "(or HUBSPOKE_AZURE_CREDENTIAL) to the identity this machine has: managed-identity, workload-identity."
)

_URL_RE = re.compile(r"https?://\S+")


def _short_reason(name: str, text: str) -> str:
    """One line out of an azure-identity failure message: without the credential's own name
    repeated, troubleshooting links and trailing sentences."""
    text = " ".join(text.split())
    for prefix in (f"{name}: ", f"{name} "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    sentences = [s.strip() for s in re.split(r"(?<=\.)\s+", text) if s.strip()]
    kept = [s for s in sentences if not _URL_RE.search(s) and "troubleshoot" not in s.lower()]
    reason = " ".join(kept[:2]) or (sentences[0] if sentences else "failed")
    return reason[:200]


def credential_failures(err: BaseException, kind: str) -> list[str]:
    """``["Name: reason", ...]``, one per credential azure-identity tried (a chain names each
    of them under "Attempted credentials:"; a single credential is one line)."""
    text = str(getattr(err, "message", None) or err)
    tried: list[str] = []
    if "Attempted credentials:" in text:
        body = text.split("Attempted credentials:", 1)[1]
        current: list[str] = []
        for line in body.splitlines():
            if line.startswith("\t"):
                if current:
                    tried.append(" ".join(current))
                current = [line.strip()]
            elif current and line.strip() and not line.startswith("To mitigate"):
                current.append(line.strip())
        if current:
            tried.append(" ".join(current))
        out = []
        for entry in tried:
            name, _, reason = entry.partition(":")
            out.append(f"{name.strip()}: {_short_reason(name.strip(), reason.strip())}")
        if out:
            return out
    name = {"cli": "AzureCliCredential", "managed-identity": "ManagedIdentityCredential",
            "workload-identity": "WorkloadIdentityCredential"}.get(kind, type(err).__name__)
    return [f"{name}: {_short_reason(name, text.splitlines()[0] if text else type(err).__name__)}"]


def check_credential(credential: Any, scope: str, kind: str) -> None:
    """Get one token before anything else, so a missing login is one clear error (not one per
    step, each walking the whole credential chain again)."""
    from azure.core.exceptions import ClientAuthenticationError

    try:
        credential.get_token(scope)
    except ClientAuthenticationError as err:
        tried = credential_failures(err, kind)
        lines = [f"no Azure credential could sign in (credential = \"{kind}\"); tried:"]
        lines += [f"  - {t}" for t in tried]
        lines.append(CREDENTIAL_FIX)
        raise AuthenticationFailed("\n".join(lines), tried) from err


def unreachable(err: BaseException, endpoint: str) -> AzureUnreachable | None:
    """The plain-words error for a transport failure (refused, unresolved, TLS...) anywhere in
    ``err``'s cause chain, or None when ``err`` is not one."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    cause: BaseException | None = err
    seen = 0
    while cause is not None and not isinstance(cause, (ServiceRequestError, ServiceResponseError)):
        cause = cause.__cause__ or cause.__context__
        seen += 1
        if seen > 20:
            return None
    if cause is None:
        return None
    text = str(cause)
    low = text.lower()
    if "certificate" in low or "ssl" in low:
        detail = re.search(r"certificate verify failed:?\s*([^(\n]*)", text, re.I)
        why = f"certificate verify failed: {detail.group(1).strip()}" if detail else text.splitlines()[0][:200]
        return AzureUnreachable(
            f"the TLS certificate of {endpoint} is not trusted ({why}). Fix: set REQUESTS_CA_BUNDLE to the "
            "CA bundle of that endpoint (Azure Stack Hub, the simulator), or correct [azure] endpoint."
        )
    if "refused" in low:
        why = "connection refused"
    elif "name or service not known" in low or "nodename nor servname" in low or "getaddrinfo" in low:
        why = "host name not resolved"
    elif "timed out" in low or "timeout" in low:
        why = "connection timed out"
    else:
        why = _URL_RE.sub("", text.splitlines()[0] if text else type(cause).__name__)[:200]
    return AzureUnreachable(
        f"cannot reach Azure Resource Manager at {endpoint}: {why}. Check [azure] endpoint "
        "(HUBSPOKE_AZURE_ENDPOINT), the network, proxy and firewall, then run again."
    )


class _ReadOnlyStore:
    """The store of a session without the lock (``plan``): reads pass through, saves are
    dropped, so what the engine notes in memory (a failed read...) is never written and
    never raises "does not hold the state lock" over the real error."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def save(self, doc: dict[str, Any]) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@dataclass
class Session:
    cfg: Any
    engine: Engine
    checkpoint: Checkpoint
    store: Any
    clients: Clients
    simulator: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


def config_digest(cfg: Any) -> str:
    dump = cfg.model_dump(mode="json") if hasattr(cfg, "model_dump") else cfg
    if isinstance(dump, dict):
        dump = {k: v for k, v in dump.items() if k not in ("azure", "state")}
    return digest(dump)


def simulator_state_file(cfg: Any, env: Mapping[str, str]) -> str:
    """Where the in-process simulator of ``[azure] endpoint = "simulator"`` keeps its Azure:
    ``$HUBSPOKE_SIMULATOR_STATE``, else next to the checkpoint for the file backend
    (``{state_path folder}/{name}.simulator.json``), else ``.hubspoke/{name}.simulator.json``."""
    override = env.get("HUBSPOKE_SIMULATOR_STATE", "").strip()
    if override:
        return override
    if cfg.state.backend == "file":
        return os.path.join(os.path.dirname(cfg.state_path) or ".", f"{cfg.name}.simulator.json")
    return os.path.join(".hubspoke", f"{cfg.name}.simulator.json")


def start_persistent_simulator(cfg: Any, env: Mapping[str, str], *, read_only: bool = False) -> Any:
    """Start the in-process simulator on its state file, so ``up``, ``plan``, ``down`` and a
    resume in separate processes see the same simulated Azure. ``read_only`` (sessions that
    take no state lock, e.g. ``plan``): load the file but never write it, so a plan next to a
    running ``up`` cannot overwrite that run's simulated Azure."""
    from hubspoke_deploy.simulator import Simulator, SimulatorStateError

    path = simulator_state_file(cfg, env)
    raw_scale = env.get("HUBSPOKE_SIMULATOR_TIME_SCALE", "0.002")
    try:
        scale = float(raw_scale)
    except ValueError as err:
        raise ConfigError(
            Problem("azure.endpoint", f"HUBSPOKE_SIMULATOR_TIME_SCALE={raw_scale!r} is not a number",
                    "set it to a positive number such as 0.002")
        ) from err
    sim = Simulator(time_scale=scale, state_file=path, state_read_only=read_only)
    try:
        sim.start()
    except SimulatorStateError as err:
        raise ConfigError(
            Problem("azure.endpoint", str(err),
                    f"delete {path} (or point HUBSPOKE_SIMULATOR_STATE elsewhere) to start from an empty "
                    "simulated Azure")
        ) from err
    return sim


@contextlib.contextmanager
def open_session(
    cfg: Any,
    *,
    command: str,
    steps: list[Step] | None = None,
    credential: Any = None,
    options: EngineOptions | None = None,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    env: Mapping[str, str] | None = None,
    lock: bool = True,
) -> Iterator[Session]:
    env = os.environ if env is None else env
    from hubspoke_deploy.orchestrator.stores import LockInfo, open_store

    sim = None
    endpoint = cfg.resource_manager_url
    scope = cfg.credential_scope or ARM_SCOPE
    verify: str | bool = True
    try:
        if cfg.azure.endpoint == "simulator":
            sim = start_persistent_simulator(cfg, env, read_only=not lock)
            endpoint = sim.endpoint
            verify = sim.ca_path
            scope = ARM_SCOPE
        assert endpoint is not None
        fast = is_loopback_url(endpoint)
        cred = credential if credential is not None else make_credential(cfg, endpoint, env)
        check_credential(cred, scope, cfg.azure.credential if credential is None else "given by the caller")
        if cfg.azure.endpoint in REGIONS:  # a named Azure cloud: its subscription knows today's regions
            check_location_online(cfg, cred, endpoint, credential_scope=scope, connection_verify=verify)
        opts = options or EngineOptions()
        limiter = AdaptiveLimiter(opts.parallelism) if opts.adaptive else None
        # one cancel event for the engine and the SDK clients' retry waits
        cancel = cancel if cancel is not None else threading.Event()
        clients = Clients(
            cancel=cancel,
            extra={"raw_response_hook": limiter.observe} if limiter is not None else {},
            credential=cred,
            subscription_id=cfg.subscription_id,
            base_url=endpoint,
            credential_scope=scope,
            connection_verify=verify,
            retry=RetrySettings(total=10, backoff_factor=0.02 if fast else 0.8, backoff_max=1.0 if fast else 60.0,
                                throttle_s=opts.throttle_wait_s or (120.0 if fast else 900.0)),
            # Poll interval when a service sends no Retry-After: the SDK's 30 s for Azure,
            # short on a loopback endpoint (the simulator compresses time).
            polling_interval=0.05 if fast else None,
        )
        if opts.retry is None:
            opts.retry = (
                RetryPolicy(attempts=12, total_seconds=120.0, base_delay=0.05, max_delay=1.0, delay_scale=0.01)
                if fast
                else RetryPolicy()
            )
        state_cred = None if cfg.state.backend == "file" else (credential or _state_credential(cfg, cred, env))
        store: Any = open_store(cfg.state, cfg.name, state_cred, env)
        if not lock:
            store = _ReadOnlyStore(store)
        run_id = uuid.uuid4().hex[:12]
        if lock:
            store.acquire(LockInfo.current(command, run_id))
        try:
            checkpoint = Checkpoint(store, cfg.name, config_digest(cfg))
            checkpoint.load()
            if steps is None:
                from hubspoke_deploy.steps.architecture import build_steps

                steps = build_steps(cfg)
            from hubspoke_deploy.steps.orphans import orphan_handlers

            engine = Engine(
                cfg, steps, clients, checkpoint, options=opts, on_event=on_event, cancel=cancel,
                deployment_tags={"deployment": cfg.name, "managed-by": "hubspoke-deploy"},
                limiter=limiter, orphan_handlers=orphan_handlers(cfg),
            )
            engine.run_id = run_id
            # SDK clients in the order the critical path needs them, built while the first steps run
            by_need: dict[str, float] = {}
            for key, step in engine.steps.items():
                name = getattr(step, "client", "")
                if name:
                    by_need[name] = max(by_need.get(name, 0.0), engine.priority.get(key, 0.0))
            clients.prewarm(sorted(by_need, key=lambda n: -by_need[n]))
            try:
                yield Session(cfg, engine, checkpoint, store, clients, sim)
            except StepFailed as err:
                plain = unreachable(err, endpoint.rstrip("/"))
                if plain is None:
                    raise
                raise plain from err
        finally:
            if lock:
                store.release()
            clients.close()
    finally:
        if sim is not None:
            sim.stop()


def _state_credential(cfg: Any, arm_credential: Any, env: Mapping[str, str]) -> Any:
    """Blob state uses AAD like ARM, unless a connection string env var is configured."""
    if cfg.state.connection_string_env:
        return None
    if cfg.azure.credential == "simulator":
        raise ConfigError(
            Problem("state.backend", "blob state needs a real credential or a connection string",
                    "set state.connection_string_env (Azurite) or use a real credential")
        )
    return arm_credential
