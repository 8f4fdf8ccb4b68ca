"""Configurations as data: field docstrings and typed construction from plain mappings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from ssae.configs import check_choices, field_docs, from_mapping
from ssae.errors import ConfigError, ToolkitError


@dataclass(frozen=True)
class Inner:
    """A nested table."""

    width: int = 4
    """How wide."""
    scale: float = 1.0
    """How much,
    over two lines."""


@dataclass(frozen=True)
class Outer:
    """The top table."""

    name: str
    """Its name."""
    sizes: tuple[int, ...] = ()
    """Some sizes."""
    mode: Literal["a", "b"] = "a"
    """A choice."""
    cap: int | None = None
    """Optional."""
    inner: Inner = field(default_factory=Inner)
    """A nested table."""

    def __post_init__(self):
        check_choices(self)
        if self.cap is not None and self.cap < 0:
            raise ConfigError("cap must be >= 0")


def test_field_docs_are_the_docstrings_under_the_fields():
    assert field_docs(Outer) == {
        "name": "Its name.",
        "sizes": "Some sizes.",
        "mode": "A choice.",
        "cap": "Optional.",
        "inner": "A nested table.",
    }
    assert field_docs(Inner)["scale"] == "How much, over two lines."


def test_from_mapping_converts_nested_and_optional_values():
    got = from_mapping(Outer, {"name": "x", "sizes": [1, 2], "inner": {"scale": 2}, "cap": None})
    assert got == Outer("x", (1, 2), inner=Inner(scale=2.0))
    assert isinstance(got.inner.scale, float)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "x", "colour": 1}, "unknown setting(s) colour; known: cap, inner, mode"),
        ({"name": "x", "sizes": "1,2"}, "t.sizes must be a list"),
        ({"name": "x", "inner": {"width": 2.5}}, "t.inner.width must be a whole number"),
        ({"name": "x", "inner": {"width": True}}, "t.inner.width must be a whole number"),
        ({"name": "x", "mode": "c"}, "t.mode is 'c'; choose one of a, b"),
        ({"name": 3}, "t.name must be text"),
        ({"name": "x", "cap": -1}, "t: cap must be >= 0"),
    ],
)
def test_bad_values_are_one_line_errors(data, message):
    with pytest.raises(ToolkitError) as e:
        from_mapping(Outer, data, where="t")
    assert message in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, ValueError)
