"""Generated configuration reference (Markdown): every key, type, default and description.

Generated from the model's fields, so it cannot go stale."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

from hubspoke_deploy.config.loader import ENV_PREFIX, ENV_SECTIONS
from hubspoke_deploy.config.model import DeploymentConfig
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["config_reference_markdown", "iter_sections"]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _split(annotation: Any) -> tuple[Any, bool, bool]:
    """-> (inner type, is list, is optional)."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = True
        annotation = args[0] if len(args) == 1 else annotation
        origin = typing.get_origin(annotation)
    if origin is list:
        return typing.get_args(annotation)[0], True, optional
    return annotation, False, optional


def _type_name(annotation: Any) -> str:
    inner, is_list, optional = _split(annotation)
    if typing.get_origin(inner) is Literal:
        name = " \\| ".join(f'`"{v}"`' for v in typing.get_args(inner))
    elif typing.get_origin(inner) is dict:
        name = "table of strings"
    elif _is_model(inner):
        name = "table"
    else:
        name = {str: "string", int: "integer", bool: "boolean", float: "float"}.get(inner, str(inner))
    if is_list:
        name = f"array of {'tables' if _is_model(inner) else name}"
    if optional:
        name += " (optional)"
    return name


def _default(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "x-default" in extra:
        return f"`{extra['x-default']}`"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "**required**"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "see below"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, list):
        if value and isinstance(value[0], BaseModel):
            return "see below"
        return "`[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{value}`"


def iter_sections(
    model: type[BaseModel] = DeploymentConfig, prefix: str = "", array: bool = False
) -> Iterator[tuple[str, type[BaseModel], bool]]:
    """Yield ``(key path, model, is array of tables)`` for every table of the config, depth first."""
    yield prefix, model, array
    for name, info in model.model_fields.items():
        inner, is_list, _ = _split(info.annotation)
        if _is_model(inner):
            yield from iter_sections(inner, f"{prefix}.{name}" if prefix else name, is_list)


def config_reference_markdown() -> str:
    """The configuration reference in Markdown, generated from the model."""
    lines = [
        "## Configuration reference",
        "",
        "One TOML file describes one deployment. Unknown keys are errors. Defaults follow Microsoft's article",
        '"Use Azure Firewall to help protect an AKS cluster"; the reasons are in the descriptions.',
        "",
        f"Every key of {', '.join(f'`[{s}]`' for s in ENV_SECTIONS)} can be overridden by an environment "
        f"variable `{ENV_PREFIX}<SECTION>_<KEY>` (e.g. `HUBSPOKE_AZURE_ENDPOINT`, `HUBSPOKE_STATE_BACKEND`); "
        "an empty value removes the key.",
        "",
        "`production` configs get warnings where they depart from the article; warnings never stop a run.",
        "",
    ]
    for path, model, is_array in iter_sections():
        if path:
            header = f"[[{path}]]" if is_array else f"[{path}]"
            lines += [f"### `{header}`", ""]
        else:
            lines += ["### Top level", ""]
        doc = (model.__doc__ or "").strip().splitlines()
        if doc:
            lines += [doc[0], ""]
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for name, info in model.model_fields.items():
            key = f"{path}.{name}" if path else name
            desc = (info.description or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{key}` | {_type_name(info.annotation)} | {_default(info)} | {desc} |")
        lines.append("")
    return "\n".join(lines)
