"""Configuration dataclasses as data: their field docstrings, and typed construction from mappings.

Every configuration in the toolkit is a dataclass whose fields carry a one-line docstring (the
string literal right after the field) and whose `__post_init__` validates. Two things are derived
from those definitions instead of being written again:

- `field_docs(cls)`: the docstring of every field, read from the class source, so a command-line
  option's help text is the field's documentation (see `shift.commands.options`);
- `from_mapping(cls, data)`: an instance built from plain data (a preset file), converting each
  value to the field's annotated type (int, float, str, bool, tuples, `X | None`, `Literal[...]`,
  nested dataclasses) and refusing unknown keys, so a typo in a preset is an error, not a silently
  ignored setting.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import operator
import textwrap
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

from ssae.errors import ConfigError


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its docstring (first paragraph, one line), for `cls` and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:] + [None]):
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            if (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                text = inspect.cleandoc(after.value.value).split("\n\n")[0]
                docs[node.target.id] = " ".join(text.split())
    return docs


def type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(T, True) for `T | None`, else (tp, False)."""
    args = typing.get_args(tp)
    if _is_union(tp) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        # `str | dict | None` keeps its other members as a union; only None is taken out
        return (rest[0] if len(rest) == 1 else functools.reduce(operator.or_, rest)), True
    return tp, False


def literal_choices(tp: Any) -> tuple | None:
    """The allowed values of a `Literal[...]` annotation, else None."""
    return typing.get_args(tp) if typing.get_origin(tp) is Literal else None


def from_mapping(cls: type, data: Mapping[str, Any], where: str = "") -> Any:
    """An instance of dataclass `cls` from `data` (see the module docstring)."""
    where = where or cls.__name__
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table of settings, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    missing = [
        n
        for n, f in fields.items()
        if n not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing setting(s) {', '.join(missing)}")
    hints = type_hints(cls)
    values = {k: convert(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**values)
    except ValueError as e:  # ConfigError included; classes outside ssae raise plain ValueError
        raise ConfigError(f"{where}: {e}") from e


def convert(value: Any, tp: Any, where: str) -> Any:
    """`value` as annotated type `tp`, or a ConfigError naming `where`."""
    inner, optional = unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where} must not be empty")
    if dataclasses.is_dataclass(inner) and isinstance(inner, type):
        return from_mapping(inner, value, where)
    choices = literal_choices(inner)
    if choices is not None:
        if value not in choices:
            raise ConfigError(f"{where} is {value!r}; choose one of {', '.join(map(str, choices))}")
        return value
    origin = typing.get_origin(inner)
    if origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        args = [a for a in typing.get_args(inner) if a is not Ellipsis]
        item = args[0] if args else Any
        items = [convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if inner is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if inner is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        return value
    if inner is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if inner is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be text, got {value!r}")
        return value
    return value


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def check_choices(obj: Any) -> None:
    """Refuse a field value outside its `Literal[...]` annotation (a one-line ConfigError)."""
    for f in dataclasses.fields(obj):
        check_value(type(obj), f.name, getattr(obj, f.name))


def check_value(cls: type, name: str, value: Any) -> None:
    """Refuse `value` for field `name` of `cls` when it is outside the field's Literal choices."""
    tp, optional = unwrap_optional(type_hints(cls)[name])
    choices = literal_choices(tp)
    if choices is not None and value not in choices and not (optional and value is None):
        raise ConfigError(f"{name} is {value!r}; choose one of {', '.join(map(str, choices))}")
