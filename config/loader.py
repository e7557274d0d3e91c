"""Load a deployment config from TOML (or a dict): env overrides, model, validation.

Every problem is collected and raised together as one
:class:`hubspoke_deploy.errors.ConfigError`; warnings do not raise and are kept
on the returned config (``cfg.warnings``).
"""

from __future__ import annotations

import copy
import os
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubspoke_deploy.config.besteffort import semantic_problems_of_partial
from hubspoke_deploy.config.model import DeploymentConfig, JumpboxConfig
from hubspoke_deploy.config.validate import did_you_mean, validate_config
from hubspoke_deploy.errors import ConfigError, Problem
from pydantic import BaseModel, ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["ENV_PREFIX", "ENV_SECTIONS", "format_loc", "load_config", "load_config_dict"]

ENV_PREFIX = "HUBSPOKE_"
#: Sections whose every key can be overridden by ``HUBSPOKE_<SECTION>_<KEY>``.
ENV_SECTIONS = ("azure", "state")

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "true or false",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "float_type": "a number",
    "int_from_float": "an integer",
}


def format_loc(loc: tuple[int | str, ...]) -> str:
    """``('spokes', 0, 'subnets', 'api_server')`` -> ``spokes[0].subnets.api_server``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(config)"


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _unwrap(annotation: Any) -> Any:
    """``list[X]`` / ``X | None`` / ``Optional[X]`` -> ``X`` (the first model-ish argument)."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The config model class found at ``loc`` (list indexes skipped)."""
    model: type[BaseModel] | None = DeploymentConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            return None
        target = _unwrap(model.model_fields[part].annotation)
        model = target if isinstance(target, type) and issubclass(target, BaseModel) else None
    return model


def _pydantic_problems(err: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for item in err.errors(include_url=False):
        loc = tuple(item["loc"])
        kind = item["type"]
        value = item.get("input")
        path = format_loc(loc)
        key = str(loc[-1]) if loc else ""
        if kind == "extra_forbidden":
            parent = _model_at(loc[:-1])
            allowed = list(parent.model_fields) if parent else []
            if parent is JumpboxConfig and "password" in key.lower():
                problems.append(
                    Problem(
                        path,
                        f"'{key}': passwords are not supported; the jump box accepts SSH keys only.",
                        "remove it and set ssh_public_key or ssh_public_key_path.",
                    )
                )
                continue
            guess = did_you_mean(key, allowed)
            what = "section" if len(loc) == 1 else "key"
            if guess:
                problems.append(
                    Problem(path, f"unknown {what} '{key}'; did you mean '{guess}'?", f"rename it to '{guess}'.")
                )
            else:
                problems.append(
                    Problem(path, f"unknown {what} '{key}'.", f"remove it; valid keys here: {', '.join(allowed)}.")
                )
        elif kind == "missing":
            problems.append(Problem(path, f"required key '{key}' is missing.", f"add {key} = ... to the file."))
        elif kind == "literal_error":
            expected = str(item.get("ctx", {}).get("expected", ""))
            options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",") if o.strip()]
            guess = did_you_mean(str(value), options) if isinstance(value, str) else None
            fix = f"did you mean '{guess}'?" if guess else f"use one of: {', '.join(options)}."
            problems.append(Problem(path, f"{value!r} is not one of {', '.join(options)}.", fix))
        elif kind in _TYPE_WORDS:
            problems.append(
                Problem(
                    path,
                    f"expected {_TYPE_WORDS[kind]}, got {_toml_type(value)} ({value!r}).",
                    f"write {key if loc and isinstance(loc[-1], str) else 'it'} as {_TYPE_WORDS[kind]}.",
                )
            )
        else:
            problems.append(Problem(path, f"{item['msg']} (got {value!r}).", ""))
    return problems


def _apply_env(raw: dict[str, Any], env: Mapping[str, str], problems: list[Problem]) -> dict[str, str]:
    """Apply ``HUBSPOKE_<SECTION>_<KEY>`` overrides in place. Returns ``{key path: variable}``.

    An empty value removes the key (back to the file's absence, i.e. the default)."""
    applied: dict[str, str] = {}
    for section in ENV_SECTIONS:
        model = _model_at((section,))
        assert model is not None
        prefix = f"{ENV_PREFIX}{section.upper()}_"
        for var in sorted(env):
            if not var.startswith(prefix):
                continue
            key = var[len(prefix) :].lower()
            if key not in model.model_fields:
                guess = did_you_mean(key, list(model.model_fields))
                if guess:
                    problems.append(
                        Problem(
                            var,
                            f"environment variable {var} does not override anything; did you mean "
                            f"{prefix}{guess.upper()}?",
                            f"rename it to {prefix}{guess.upper()}.",
                            severity="warning",
                        )
                    )
                continue
            table = raw.get(section)
            if table is None:
                table = raw[section] = {}
            if not isinstance(table, dict):
                continue  # the type error on the section is reported by the model
            value = env[var]
            if value == "":
                table.pop(key, None)
            else:
                table[key] = _env_value(value, model.model_fields[key].annotation)
            applied[f"{section}.{key}"] = var
    return applied


def _env_value(value: str, annotation: Any) -> Any:
    """Environment values are text: integer and boolean keys take their TOML spelling."""
    if annotation is int and value.strip().lstrip("-").isdigit():
        return int(value)
    if annotation is bool and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def _name_env(problems: list[Problem], applied: Mapping[str, str]) -> list[Problem]:
    """Say which environment variable set the value a problem is about."""
    out = []
    for p in problems:
        var = applied.get(p.path)
        if var is None:
            # A problem on a list item or sub-key of an overridden key.
            var = next(
                (v for k, v in applied.items() if p.path.startswith(k + ".") or p.path.startswith(k + "[")),
                None,
            )
        if var is not None and var not in p.message:
            message = p.message.rstrip(".")
            p = Problem(p.path, f"{message} (set by environment variable {var}).", p.fix, p.severity)
        out.append(p)
    return out


def _resolve_ssh_key(raw: dict[str, Any], base_dir: Path, problems: list[Problem]) -> None:
    """Read ``jumpbox.ssh_public_key_path`` (relative to the config's folder) into ``ssh_public_key``."""
    jb = raw.get("jumpbox")
    if not isinstance(jb, dict) or jb.get("enabled", True) is False:
        return
    key_path = jb.get("ssh_public_key_path")
    if not isinstance(key_path, str):
        return  # absent, or a type error reported by the model
    if jb.get("ssh_public_key") is not None:
        problems.append(
            Problem(
                "jumpbox.ssh_public_key_path",
                "both ssh_public_key and ssh_public_key_path are set.",
                "keep only one of them.",
            )
        )
        return
    path = Path(key_path).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        problems.append(
            Problem(
                "jumpbox.ssh_public_key_path",
                f"cannot read the SSH public key file '{path}': {reason}.",
                "check the path (it is relative to the config file's folder).",
            )
        )
        return
    jb["ssh_public_key"] = text.splitlines()[0] if text else text


def _unless_key_file_failed(problems: list[Problem], semantic: list[Problem]) -> list[Problem]:
    """The key file could not be used: do not also report "no key" for it."""
    if any(p.path == "jumpbox.ssh_public_key_path" for p in problems):
        return [p for p in semantic if not p.path.startswith("jumpbox.ssh_public_key")]
    return semantic


def load_config_dict(
    data: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    source: str = "<dict>",
    *,
    base_dir: str | Path | None = None,
) -> DeploymentConfig:
    """Build and validate a config from parsed TOML.

    ``env`` defaults to ``os.environ``; ``base_dir`` (default: the working directory) anchors a relative
    ``jumpbox.ssh_public_key_path``. Raises :class:`ConfigError` listing every error."""
    if not isinstance(data, Mapping):
        raise ConfigError(Problem("(config)", "the configuration must be a table of sections."), source=source)
    raw: dict[str, Any] = copy.deepcopy(dict(data))
    problems: list[Problem] = []
    applied = _apply_env(raw, os.environ if env is None else env, problems)
    _resolve_ssh_key(raw, Path(base_dir) if base_dir is not None else Path.cwd(), problems)
    try:
        cfg = DeploymentConfig.model_validate(raw)
    except ValidationError as err:
        # Every problem in one run: the model's, and the semantic ones of the parts that parsed.
        model_problems = _pydantic_problems(err)
        problems.extend(model_problems)
        problems.extend(_unless_key_file_failed(problems, semantic_problems_of_partial(raw, err)))
        errors = [p for p in _name_env(problems, applied) if p.severity == "error"]
        raise ConfigError(errors, source=source) from err
    problems.extend(_unless_key_file_failed(problems, validate_config(cfg)))
    problems = _name_env(problems, applied)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ConfigError(errors, source=source)
    cfg._warnings = tuple(p for p in problems if p.severity == "warning")
    cfg._source = source
    return cfg


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> DeploymentConfig:
    """Parse a TOML file, apply ``HUBSPOKE_<SECTION>_<KEY>`` overrides ([azure], [state]), validate.

    Raises :class:`ConfigError` (with ``source=path``) listing every error; warnings are in
    ``cfg.warnings``."""
    file = Path(path)
    source = str(path)
    try:
        text = file.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(
            Problem("(file)", f"cannot read the config file: {err.strerror or err}.", "check the path."),
            source=source,
        ) from err
    except UnicodeDecodeError as err:
        raise ConfigError(Problem("(file)", "the config file is not UTF-8 text.", ""), source=source) from err
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(
            Problem("(toml)", f"the file is not valid TOML: {err}.", "fix the syntax at the position shown."),
            source=source,
        ) from err
    return load_config_dict(data, env=env, source=source, base_dir=file.resolve().parent)
