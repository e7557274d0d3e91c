"""Semantic checks on a config that did not fully parse, so one run reports every problem.

When the model refuses some values (wrong types, missing keys, unknown keys), each refused value is
replaced by a neutral stand-in: unknown keys are dropped, optional keys fall back to their default (lists
to empty, which the semantic checks read as "nothing to check"), required keys get a placeholder. The
semantic checks then run on that model, and every problem they report about a replaced key (or a key
inside or around it) is dropped: it would be about the stand-in, not about the file. What is left are the
real problems of the parts that did parse.
"""

from __future__ import annotations

import copy
import types
import typing
from typing import Any, Literal

from hubspoke_deploy.config.model import DeploymentConfig
from hubspoke_deploy.errors import Problem
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

__all__ = ["semantic_problems_of_partial"]

Loc = tuple[int | str, ...]

#: rounds of repair: a replaced table can reveal missing keys inside it (``deployment = 3`` -> ``{}`` ->
#: ``deployment.name`` missing), one level per round
_MAX_ROUNDS = 6


def _inner(annotation: Any) -> Any:
    """``list[X]`` / ``X | None`` -> ``X``."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return _inner(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _inner(args[0]) if len(args) == 1 else annotation
    return annotation


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation) if a is not type(None))
    return origin in (list, tuple)


def _as_model(tp: Any) -> type[BaseModel] | None:
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _field_loc(loc: Loc) -> tuple[Loc, type[BaseModel] | None, str | None]:
    """The location of the deepest model field in ``loc`` (list indexes and dict keys below it dropped),
    with the model that owns the field and the field's name."""
    model: type[BaseModel] | None = DeploymentConfig
    owner: type[BaseModel] | None = None
    name: str | None = None
    end = 0
    for i, part in enumerate(loc):
        if isinstance(part, int):
            continue
        if model is None or part not in model.model_fields:
            break
        owner, name, end = model, part, i + 1
        model = _as_model(_inner(model.model_fields[part].annotation))
    return loc[:end], owner, name


def _placeholder(annotation: Any) -> Any:
    """A value of the right type for a required key the file lacks or got wrong."""
    if _is_list(annotation):
        return []
    tp = _inner(annotation)
    if typing.get_origin(tp) is Literal:
        return typing.get_args(tp)[0]
    if _as_model(tp) is not None:
        return {}
    if typing.get_origin(tp) is dict:
        return {}
    return {str: "placeholder", int: 1, bool: False, float: 1.0}.get(tp, "placeholder")


def _container(data: Any, loc: Loc) -> Any:
    node = data
    for part in loc:
        in_table = isinstance(node, dict) and isinstance(part, str) and part in node
        in_array = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_table or in_array):
            return None
        node = node[part]
    return node


def _repair(data: dict[str, Any], item: Any, touched: list[str]) -> None:
    from hubspoke_deploy.config.loader import format_loc

    loc: Loc = tuple(item["loc"])
    if item["type"] == "extra_forbidden":
        parent = _container(data, loc[:-1])
        if isinstance(parent, dict):
            parent.pop(loc[-1], None)
        return
    field_loc, owner, name = _field_loc(loc)
    if owner is None or name is None:
        return
    parent = _container(data, field_loc[:-1])
    if not isinstance(parent, dict):
        return  # the table itself is wrong: its own error replaces it
    info = owner.model_fields[name]
    required = info.default is PydanticUndefined and info.default_factory is None
    if required:
        parent[name] = _placeholder(info.annotation)
    elif _is_list(info.annotation):
        parent[name] = []  # read as "nothing to check" (a default could clash with the real values)
    else:
        parent.pop(name, None)
    touched.append(format_loc(field_loc))


def _about(path: str, touched: list[str]) -> bool:
    """``path`` is one of the replaced keys, inside one, or a table around one."""
    for t in touched:
        if path == t or path.startswith((t + ".", t + "[")) or t.startswith((path + ".", path + "[")):
            return True
    return False


def semantic_problems_of_partial(raw: dict[str, Any], err: ValidationError) -> list[Problem]:
    """The semantic errors of the parts of ``raw`` that parsed (``err`` is the model's refusal of it)."""
    from hubspoke_deploy.config.validate import validate_config

    data = copy.deepcopy(raw)
    touched: list[str] = []
    items = err.errors(include_url=False)
    cfg: DeploymentConfig | None = None
    for _ in range(_MAX_ROUNDS):
        for item in items:
            _repair(data, item, touched)
        try:
            cfg = DeploymentConfig.model_validate(data)
            break
        except ValidationError as again:
            items = again.errors(include_url=False)
    if cfg is None:
        return []
    try:
        found = validate_config(cfg)
    except Exception:  # a stand-in the checks did not expect: report the model errors alone
        return []
    return [p for p in found if p.severity == "error" and not _about(p.path, touched)]
