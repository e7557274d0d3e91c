"""The exception tree of hubspoke-deploy.

Every error the library raises derives from :class:`HubspokeError`; each
carries the process exit code the CLI maps it to, so the CLI and runbooks see
the same contract.

Exit codes (documented in the README):
    0   success
    1   deployment failed (resumable: run the same command again)
    2   usage or configuration error (nothing was changed)
    3   state locked by another run
    4   ``plan --detailed-exitcode``: changes pending
    130 interrupted (state is safe; run again to resume)
    141 the output pipe was closed by its reader (``status | head``)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_CHANGES = 4
EXIT_INTERRUPTED = 130
#: stdout's reader went away (``status | head``): 128 + SIGPIPE, as a shell reports a process SIGPIPE killed
EXIT_PIPE = 141


class HubspokeError(Exception):
    """Root of every error raised by hubspoke-deploy."""

    exit_code: int = EXIT_FAILED


class UsageError(HubspokeError):
    """The command line was wrong (bad flag combination, missing file...)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Problem:
    """One problem found in a configuration file.

    ``path`` is the dotted key path (``spokes[0].subnets.api_server``),
    ``message`` says what is wrong and ``fix`` what to do about it.
    """

    path: str
    message: str
    fix: str = ""
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class ConfigError(HubspokeError):
    """The configuration is invalid. Carries every problem found, not only the first."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[Problem] | Problem | str, source: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem(path="(config)", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"{len(self.problems)} problem(s){where}:"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class AzureUnreachable(HubspokeError):
    """Azure Resource Manager (or the configured endpoint) could not be reached: connection
    refused, name not resolved, TLS certificate not trusted... Nothing was changed; fix the
    endpoint or the network and run again."""

    exit_code = EXIT_FAILED


class AuthenticationFailed(HubspokeError):
    """No credential could get a token (no ``az login``, no managed identity...). The message
    names each credential tried and the fix. Nothing was changed."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, tried: list[str] | None = None) -> None:
        #: one ``"Name: reason"`` entry per credential tried
        self.tried = list(tried or [])
        super().__init__(message)


class StateError(HubspokeError):
    """The checkpoint state cannot be used (corrupt, newer schema, unreachable)."""

    exit_code = EXIT_USAGE


class StateCorrupt(StateError):
    """The checkpoint document is not valid; it was left untouched."""


class StateLocked(StateError):
    """Another run holds the state lock."""

    exit_code = EXIT_LOCKED

    def __init__(self, message: str, holder: dict[str, str] | None = None) -> None:
        self.holder = dict(holder or {})
        super().__init__(message)


class StateConflict(StateError):
    """The state changed underneath this run (ETag mismatch or lost lease).

    The run stops before writing so nothing is corrupted."""

    exit_code = EXIT_FAILED


@dataclass
class StepFailed(HubspokeError):
    """A step failed. Carries the step key, the resource id and Azure's error code."""

    step: str
    resource_id: str | None = None
    code: str | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    exit_code = EXIT_FAILED

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [f"step {self.step} failed"]
        if self.code:
            parts.append(f"[{self.code}]")
        if self.resource_id:
            parts.append(f"on {self.resource_id}")
        text = " ".join(parts)
        return f"{text}: {self.message}" if self.message else text


class ReplacementRefused(StepFailed):
    """A change needs the resource to be replaced and replacement was not allowed."""


class DeploymentFailed(HubspokeError):
    """One or more steps failed; the checkpoint allows the run to be resumed."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, failures: list[StepFailed] | None = None) -> None:
        self.failures = list(failures or [])
        #: the library's RunResult of the failed run (set by ``hubspoke_deploy.up``/``down``)
        self.result: Any = None
        super().__init__(message)


class Interrupted(HubspokeError):
    """The run was interrupted by SIGINT/SIGTERM; in-flight operations were checkpointed."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        #: the library's RunResult of the interrupted run, when there is one
        self.result: Any = None


class ReplacementsRefused(HubspokeError):
    """``up`` found, before its first write, changes that need resources replaced and may not
    replace them (no ``--allow-replace``, or a resource this deployment did not create).
    ``replacements``: one dict per resource (``step``, ``resource_id``, ``forced_by`` (the
    properties that force it), ``fix``). Nothing was changed."""

    exit_code = EXIT_USAGE

    def __init__(self, replacements: list[dict[str, Any]]) -> None:
        self.replacements = list(replacements)
        lines = [f"{len(self.replacements)} change(s) need a resource replaced; nothing was changed:"]
        for r in self.replacements:
            lines.append(f"  {r['step']}: {r['resource_id']}")
            lines.append(f"    forced by: {', '.join(r['forced_by']) or '(unknown)'}")
            lines.append(f"    fix: {r['fix']}")
        super().__init__("\n".join(lines))
