"""The simulator's HTTPS server: ARM's REST protocol on loopback, for the official SDK clients.

A stdlib ``ThreadingHTTPServer`` with TLS (certificate from :mod:`certs`), HTTP/1.1
keep-alive, bearer-token check, fault injection, ARM's throttling model, stats,
a JSONL request log and the ``/_sim/`` admin endpoints. ARM semantics live in
:mod:`store`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import signal
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from hubspoke_deploy.simulator.certs import CertFiles, generate_self_signed
from hubspoke_deploy.simulator.faults import FaultInjector, FaultSpec, TokenBucket
from hubspoke_deploy.simulator.providers.base import JSON, Settings, load_providers
from hubspoke_deploy.simulator.store import ArmEngine, Response, SimulatorStateError, _retry_headers

__all__ = ["Simulator", "main"]

_WRITE_METHODS = ("PUT", "PATCH", "POST", "DELETE")


def _kind_of(method: str) -> str:
    return "write" if method in ("PUT", "PATCH", "POST") else "delete" if method == "DELETE" else "read"


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.methods: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.injected: dict[str, int] = {}
        self.reads = self.writes = self.deletes = self.polls = self.throttled = self.total = 0

    def record(self, method: str, kind: str, status: int, code: str) -> None:
        with self.lock:
            self.total += 1
            self.methods[method] = self.methods.get(method, 0) + 1
            if kind == "poll":
                self.polls += 1
            elif method in ("GET", "HEAD"):
                self.reads += 1
            elif method == "DELETE":
                self.deletes += 1
            else:
                self.writes += 1
            if status == 429:
                self.throttled += 1
            if status >= 400 and code:
                self.errors[code] = self.errors.get(code, 0) + 1

    def inject(self, kind: str) -> None:
        with self.lock:
            self.injected[kind] = self.injected.get(kind, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "total": self.total,
                "methods": dict(self.methods),
                "reads": self.reads,
                "writes": self.writes,
                "deletes": self.deletes,
                "polls": self.polls,
                "throttled": self.throttled,
                "errors": dict(self.errors),
                "injected": dict(self.injected),
            }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], sim: Simulator, ctx: ssl.SSLContext) -> None:
        self.sim = sim
        self.ssl_ctx = ctx
        super().__init__(addr, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake in the worker thread, not in the accept loop
        try:
            request.settimeout(30.0)
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet on client resets
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError, OSError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes; with Nagle on, the client's delayed ACK
    # adds ~40 ms to every response on loopback.
    disable_nagle_algorithm = True
    server: _Server
    server_version = "hubspoke-arm-simulator/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_POST(self) -> None:
        self._handle("POST")

    # ------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, resp: Response, method: str) -> None:
        data = b"" if resp.body is None or resp.status == 204 else json.dumps(resp.body).encode()
        self.send_response(resp.status)
        headers = {
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-correlation-request-id": self.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4()),
            **resp.headers,
        }
        if data:
            headers["Content-Type"] = "application/json; charset=utf-8"
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and method != "HEAD":
            self.wfile.write(data)

    def _handle(self, method: str) -> None:
        sim = self.server.sim
        url = urlsplit(self.path)
        path = url.path
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        raw = self._read_body()
        if path.startswith("/_sim/") or path == "/_sim":
            self._send(sim._admin(method, path, raw), method)
            return
        api_version = query.get("api-version", "")
        resp = sim._serve(method, path, query, raw, self.headers.get("Authorization", ""))
        if resp is None:  # injected dropped connection
            self.close_connection = True
            sim._log(method, path, api_version, 0, "ConnectionDropped", None)
            return
        self._send(resp, method)
        sim._log(method, path, api_version, resp.status, resp.error_code, resp)


class Simulator:
    """An in-process ARM simulator over HTTPS. See ``simulator/PROVIDERS.md``.

    ``time_scale`` multiplies the real-world latencies of the providers' tables;
    ``principal_delay_s`` is the (real-world, scaled) replication delay of new principals;
    ``throttle`` turns on ARM's token buckets; ``request_log`` is a JSONL path (one line per
    ARM request: ``time``, ``method``, ``path`` without the query, ``api_version``, ``status``,
    ``code``, ``resource_id`` -- lower-cased --, ``kind``: read | write | delete | poll, and
    ``created``: the request created the resource).

    ``state_file``: a persistent simulator. The state (resources, operations in flight,
    soft-deleted vaults, principal creation times, the GUID generator and the port) is loaded
    at :meth:`start` and saved atomically (temporary file + rename) after every request that
    changed it and at :meth:`stop`, so separate processes see one Azure. Operations in flight
    keep their wall-clock end times and complete on the first request after they are due.
    ``known_principals``: object ids of principals the simulator did not create (users,
    groups, service principals) that role assignments may name. ``state_read_only``: load
    the state file but never write it (a read-only command next to a running deployment).
    """

    def __init__(
        self,
        time_scale: float = 0.002,
        faults: FaultSpec | None = None,
        seed: int = 0,
        principal_delay_s: float = 20.0,
        throttle: bool = False,
        request_log: str | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        state_file: str | os.PathLike[str] | None = None,
        known_principals: Iterable[str] = (),
        state_read_only: bool = False,
    ) -> None:
        load_providers()
        self.settings = Settings(
            time_scale=time_scale,
            principal_delay_s=principal_delay_s,
            seed=seed,
            known_principals=frozenset(str(p).lower() for p in known_principals),
        )
        self._state_file = os.fspath(state_file) if state_file is not None else None
        self._state_read_only = state_read_only
        self._save_lock = threading.Lock()  # one writer of the state file at a time
        self._saved_change = -1  # engine.change_count of the last saved snapshot
        self._saved_seq = 0
        self._written_seq = 0
        self._faults = FaultInjector(faults or FaultSpec(), seed)
        self._throttle_flag = throttle
        self.engine = ArmEngine(self.settings, self._faults)
        self._stats = _Stats()
        self._request_log = request_log
        self._log_lock = threading.Lock()
        self._log_fh: Any = None
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._certs: CertFiles | None = None
        self._make_buckets()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Simulator:
        """Start serving. With ``state_file``: load it first (a missing file is an empty Azure;
        an unusable one raises :class:`SimulatorStateError`) and listen on the port of the
        previous run when it is free, so operation status URLs saved by clients still work."""
        if self._server is not None:
            return self
        saved_port = self._load_state() if self._state_file else None
        self._certs = generate_self_signed()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self._certs.cert_path, self._certs.key_path)
        server: _Server | None = None
        if self._port == 0 and saved_port:
            with contextlib.suppress(OSError):
                server = _Server((self._host, saved_port), self, ctx)
        self._server = server if server is not None else _Server((self._host, self._port), self, ctx)
        self._port = self._server.server_address[1]
        self.engine.base_url = self.endpoint
        if self._request_log:
            self._log_fh = open(self._request_log, "a", encoding="utf-8")  # noqa: SIM115
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="arm-simulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.save()
        with self._log_lock:
            if self._log_fh is not None:
                self._log_fh.close()
                self._log_fh = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ public API
    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        return f"https://{host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def ca_path(self) -> str:
        if self._certs is None:
            raise RuntimeError("the simulator is not started")
        return self._certs.cert_path

    @property
    def time_scale(self) -> float:
        return self.settings.time_scale

    @property
    def state_file(self) -> str | None:
        return self._state_file

    def save(self, force: bool = False) -> bool:
        """Write the state file (no-op without ``state_file``) when the state changed since the
        last save, or always with ``force``. Atomic: a temporary file in the same folder is
        renamed over the old one, so a process killed at any moment leaves a whole file."""
        if self._state_file is None or self._state_read_only:
            return False
        with self.engine.lock:
            change = self.engine.change_count
            if change == self._saved_change and not force:
                return False
            self._saved_change = change
            self._saved_seq += 1
            seq = self._saved_seq
            text = self.engine.snapshot({"port": self._port} if self._port else None)
        with self._save_lock:
            if seq < self._written_seq:
                return False  # a newer snapshot is already on disk
            self._written_seq = seq
            folder = os.path.dirname(os.path.abspath(self._state_file))
            os.makedirs(folder, exist_ok=True)
            tmp = f"{self._state_file}.{os.getpid()}.{threading.get_ident()}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self._state_file)
        return True

    def _load_state(self) -> int | None:
        """Restore the state file; returns the port it was saved with."""
        assert self._state_file is not None
        try:
            with open(self._state_file, encoding="utf-8") as fh:
                text = fh.read()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise SimulatorStateError(f"cannot read the simulator state file {self._state_file}: {err}") from err
        try:
            doc = json.loads(text)
        except ValueError as err:
            raise SimulatorStateError(
                f"the simulator state file {self._state_file} is not valid JSON ({err}); delete it to start "
                "from an empty simulated Azure"
            ) from err
        self.engine.restore(doc, f"the simulator state file {self._state_file}")
        self._saved_change = self.engine.change_count
        port = doc.get("port") if isinstance(doc, dict) else None
        return port if isinstance(port, int) and 0 < port < 65536 else None

    def stats(self) -> dict[str, Any]:
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        with self._stats.lock:
            self._stats.reset()

    def reset(self) -> None:
        """Clear all resources, operations and stats (and the state file's content)."""
        self.engine.reset()
        self.reset_stats()
        self.save()

    def resources(self) -> list[JSON]:
        return self.engine.resources()

    def get_resource(self, resource_id: str) -> JSON | None:
        return self.engine.get_view(resource_id)

    def set_faults(self, faults: FaultSpec) -> None:
        self._faults.set_spec(faults)
        self._make_buckets()

    @property
    def faults(self) -> FaultSpec:
        return self._faults.spec

    # ------------------------------------------------------------------ internals
    def _make_buckets(self) -> None:
        s = self._faults.spec
        self._write_bucket = TokenBucket(s.write_bucket, s.write_refill)
        self._read_bucket = TokenBucket(s.read_bucket, s.read_refill)

    def _throttling(self) -> bool:
        return self._throttle_flag or self._faults.spec.throttle

    def _log(self, method: str, path: str, api_version: str, status: int, code: str, resp: Response | None) -> None:
        if self._log_fh is None:
            return
        if resp is not None and resp.resource_id:
            resource_id, kind = resp.resource_id, resp.kind
        else:  # answered before the engine saw it (fault, throttling, authentication)
            resource_id, poll = self.engine.addressed(path, method)
            kind = "poll" if poll else resp.kind if resp is not None else _kind_of(method)
        line = json.dumps(
            {
                "time": time.time(),
                "method": method,
                "path": path,
                "api_version": api_version,
                "status": status,
                "code": code,
                "resource_id": resource_id,
                "kind": kind,
                "created": bool(resp is not None and resp.created),
            }
        )
        with self._log_lock:
            if self._log_fh is not None:
                self._log_fh.write(line + "\n")
                self._log_fh.flush()

    def _serve(self, method: str, path: str, query: dict[str, str], raw: bytes, auth: str) -> Response | None:
        kind = "write" if method in ("PUT", "PATCH", "POST") else "delete" if method == "DELETE" else "read"
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            resp = Response(
                401,
                {
                    "error": {
                        "code": "AuthenticationFailed",
                        "message": "Authentication failed. The 'Authorization' header is missing.",
                    }
                },
                {
                    "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", '
                    'error="invalid_token"'
                },
                "AuthenticationFailed",
                kind,
            )
            self._stats.record(method, kind, resp.status, resp.error_code)
            return resp
        decision = self._faults.decide()
        if decision.kind == "drop":
            self._stats.inject("drop")
            self._stats.record(method, kind, 0, "ConnectionDropped")
            return None
        if decision.kind == "429":
            self._stats.inject("429")
            hinted = self._faults.spec.retry_after
            resp = self._too_many(hinted if hinted > 0 else 0.5 * self.settings.time_scale * 20, kind)
            self._stats.record(method, kind, 429, resp.error_code)
            return resp
        if decision.kind == "500":
            self._stats.inject("500")
            resp = Response(
                500,
                {
                    "error": {
                        "code": "InternalServerError",
                        "message": "Encountered internal server error. Diagnostic information: "
                        "injected by the simulator.",
                    }
                },
                {},
                "InternalServerError",
                kind,
            )
            self._stats.record(method, kind, 500, resp.error_code)
            return resp
        bucket = self._write_bucket if method in _WRITE_METHODS else self._read_bucket
        ok, wait = bucket.take()
        if not ok and self._throttling():
            resp = self._too_many(wait, kind)
            self._stats.record(method, kind, 429, resp.error_code)
            return resp
        body: Any = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError as err:
                resp = Response(
                    400,
                    {
                        "error": {
                            "code": "InvalidRequestContent",
                            "message": f"The request content was invalid and could not be deserialized: {err}.",
                        }
                    },
                    {},
                    "InvalidRequestContent",
                    kind,
                )
                self._stats.record(method, kind, 400, resp.error_code)
                return resp
        resp = self.engine.handle(method, path, query, body)
        header = "x-ms-ratelimit-remaining-subscription-" + ("writes" if method in _WRITE_METHODS else "reads")
        resp.headers[header] = str(bucket.remaining())
        self._stats.record(method, resp.kind, resp.status, resp.error_code)
        # persisted before the answer leaves: a client that saw the answer finds it after a kill
        self.save()
        return resp

    def _too_many(self, wait_s: float, kind: str) -> Response:
        ms = max(1, math.ceil(wait_s * 1000))
        # ARM answers 429 with Retry-After:
        # https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
        return Response(
            429,
            {
                "error": {
                    "code": "TooManyRequests",
                    "message": "The request is being throttled as the limit has been reached for operation type. "
                    "Please retry after the time in the Retry-After header.",
                }
            },
            {**_retry_headers(ms)},
            "TooManyRequests",
            kind,
        )

    def _admin(self, method: str, path: str, raw: bytes) -> Response:
        route = path.rstrip("/")
        if route == "/_sim/state" and method == "GET":
            return Response(200, {"resources": self.resources()}, kind="admin")
        if route == "/_sim/stats" and method == "GET":
            return Response(200, self.stats(), kind="admin")
        if route == "/_sim/reset" and method == "POST":
            self.reset()
            return Response(200, {"reset": True}, kind="admin")
        if route == "/_sim/faults":
            if method == "GET":
                return Response(200, {"spec": self.faults.to_string()}, kind="admin")
            if method == "POST":
                try:
                    payload = json.loads(raw) if raw.strip() else {}
                    spec = payload.get("spec", "") if isinstance(payload, dict) else str(payload)
                    self.set_faults(FaultSpec.parse(str(spec)))
                except ValueError as err:
                    return Response(400, {"error": {"code": "InvalidFaultSpec", "message": str(err)}}, kind="admin")
                return Response(200, {"spec": self.faults.to_string()}, kind="admin")
        return Response(
            404, {"error": {"code": "NotFound", "message": f"No admin endpoint {method} {path}"}}, kind="admin"
        )


# ---------------------------------------------------------------------- standalone command


def export_lines(endpoint: str, ca_path: str) -> list[str]:
    """Shell lines that point ``hubspoke-deploy`` (any config: they override ``[azure]``) and the Azure SDKs
    at this simulator: the endpoint, the simulator credential and the CA bundle that trusts its
    certificate (azure-core's transport reads ``REQUESTS_CA_BUNDLE``)."""
    return [
        f"export HUBSPOKE_AZURE_ENDPOINT={shlex.quote(endpoint)}",
        "export HUBSPOKE_AZURE_CREDENTIAL=simulator",
        f"export REQUESTS_CA_BUNDLE={shlex.quote(ca_path)}",
    ]


def main(argv: list[str] | None = None) -> int:
    """``hubspoke-deploy simulator``: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="hubspoke-deploy simulator", description="Run the ARM simulator.")
    parser.add_argument("--port", type=int, default=8443, help="HTTPS port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--time-scale", type=float, default=0.002, help="multiplier of Azure's real durations")
    parser.add_argument("--faults", default="", help='e.g. "429=0.1,500=0.05,drop=0.02,lrofail=0.05,throttle=on"')
    parser.add_argument("--seed", type=int, default=0, help="random seed of the fault injection")
    parser.add_argument("--principal-delay", type=float, default=20.0,
                        help="replication delay of new principals, in real-world seconds")
    parser.add_argument("--request-log", default=None, help="append one JSON line per ARM request to this file")
    parser.add_argument(
        "--state-file", default=None, help="persist the simulated Azure in this JSON file (loaded at start)"
    )
    parser.add_argument(
        "--known-principal", action="append", default=[], help="object id role assignments may name (repeatable)"
    )
    parser.add_argument("--json", action="store_true", help="print the endpoint and CA path as one JSON document")
    args = parser.parse_args(argv)
    try:
        spec = FaultSpec.parse(args.faults)
    except ValueError as err:
        print(f"error: --faults: {err}", file=sys.stderr)
        return 2
    sim = Simulator(
        time_scale=args.time_scale,
        faults=spec,
        seed=args.seed,
        principal_delay_s=args.principal_delay,
        request_log=args.request_log,
        port=args.port,
        host=args.host,
        state_file=args.state_file,
        known_principals=args.known_principal,
    )
    try:
        sim.start()
    except SimulatorStateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"error: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    handler: Callable[[int, Any], None] = _on_signal
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if args.json:  # one JSON document on stdout (`hubspoke-deploy -o json simulator`)
        print(json.dumps({"endpoint": sim.endpoint, "ca_path": sim.ca_path,
                          "exports": export_lines(sim.endpoint, sim.ca_path)}), flush=True)
    else:
        print(f"endpoint: {sim.endpoint}", flush=True)
        print(f"ca_path: {sim.ca_path}", flush=True)
        print("# to use it from another shell, paste:", flush=True)
        for line in export_lines(sim.endpoint, sim.ca_path):
            print(line, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
