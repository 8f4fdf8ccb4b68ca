"""Click options generated from configuration dataclasses.

A command lists which fields it offers (`Opt(cls, field, flags...)`); the option's type, choices and
help text come from the dataclass (`ssae.configs.field_docs`), so each default and each help text
is written once, next to the field. Every generated option defaults to None, "not given": the
command then keeps the configuration's own value (the dataclass default or a preset's), and the
help shows that value.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from ssae.configs import field_docs, literal_choices, type_hints, unwrap_optional


@dataclass(frozen=True)
class Opt:
    """One dataclass field offered as a command-line option."""

    cls: type
    """The dataclass that owns the field (its docstring is the help text)."""
    field: str
    """The field's name."""
    flags: tuple[str, ...] = ()
    """Option names; default `--field-name`."""
    dest: str | None = None
    """Keyword the command receives; default the field's name."""
    default_text: str | None = None
    """What the help shows as the default when it is not the field's own (e.g. per preset)."""
    multiple: bool = False
    """Repeatable option (a tuple field)."""
    path: bool = False
    """The value names an existing file."""
    click_type: Any = None
    """A click parameter type that parses the value (e.g. token counts like 8M)."""

    @property
    def name(self) -> str:
        return self.dest or self.field

    @property
    def names(self) -> tuple[str, ...]:
        return self.flags or (f"--{self.field.replace('_', '-')}",)

    def decorate(self, f: Callable) -> Callable:
        tp, _ = unwrap_optional(type_hints(self.cls)[self.field])
        default = _field_default(self.cls, self.field)
        shown = self.default_text if self.default_text is not None else _show(default)
        help_text = field_docs(self.cls).get(self.field, "")
        if shown:
            help_text += f" [default: {shown}]"
        kwargs: dict[str, Any] = {"default": None, "help": help_text}
        if tp is bool:
            on, *off = self.names
            decl = [f"{on}/--no-{on[2:]}"] if not off else [f"{on}/{off[0]}"]
            return click.option(*decl, self.name, **kwargs)(f)
        # Choices are shown, not enforced by click: the dataclass refuses a bad value in one
        # line (`ConfigError`), where click would print its usage block.
        item = typing.get_args(tp)[0] if self.multiple and typing.get_args(tp) else tp
        choices = literal_choices(item)
        if choices:
            kwargs["metavar"] = "[" + "|".join(map(str, choices)) + "]"
        if self.multiple:
            kwargs.update(multiple=True, default=())
        elif self.click_type is not None:
            kwargs["type"] = self.click_type
        elif self.path:
            kwargs["type"] = click.Path(exists=True, dir_okay=False)
        elif tp is Path:
            kwargs["type"] = click.Path(path_type=Path)
        elif tp in (int, float):
            kwargs["type"] = tp
        elif typing.get_origin(tp) in (tuple, list):
            kwargs["help"] = help_text.replace(" [default", " (comma-separated) [default", 1)
        return click.option(*self.names, self.name, **kwargs)(f)


def options(opts: Sequence[Opt]) -> Callable[[Callable], Callable]:
    """Decorator adding every option of `opts` (listed in `--help` in this order)."""

    def decorate(f: Callable) -> Callable:
        for opt in reversed(opts):
            f = opt.decorate(f)
        return f

    return decorate


def given(values: dict[str, Any], opts: Sequence[Opt]) -> dict[str, Any]:
    """The options the user gave, converted to the field types (comma lists to tuples)."""
    out = {}
    for opt in opts:
        v = values.get(opt.name)
        if v is None or (opt.multiple and not v):
            continue
        tp, _ = unwrap_optional(type_hints(opt.cls)[opt.field])
        if not opt.multiple and typing.get_origin(tp) in (tuple, list) and isinstance(v, str):
            items = tuple(x.strip() for x in v.split(",") if x.strip())
            v = items if typing.get_origin(tp) is tuple else list(items)
        out[opt.name] = tuple(v) if opt.multiple else v
    return out


def configure(cls: type, values: dict[str, Any], opts: Sequence[Opt], **extra: Any) -> Any:
    """`cls` built from the given option values (`given`) of its fields in `opts`, plus `extra`;
    every other field keeps the class's default."""
    fields = {o.field: values[o.name] for o in opts if o.cls is cls and o.name in values}
    return cls(**fields, **extra)


def _field_default(cls: type, name: str) -> Any:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _show(value: Any) -> str:
    if value is None or value == () or value == []:
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def path_option(*names: str, help: str, required: bool = False, exists: bool = False, **kw):
    """A file or folder option (`pathlib.Path` values); `kw` are click.Path's own settings."""
    kind = click.Path(path_type=Path, exists=exists, **kw)
    # No default for a required option: click >= 8.3 counts an explicit default=None as given,
    # and the command would run without it.
    default = {} if required else {"default": None}
    return click.option(*names, type=kind, required=required, help=help, **default)
