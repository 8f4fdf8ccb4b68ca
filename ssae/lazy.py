"""Package re-exports resolved on first use (PEP 562), so that importing one light module of a
package (a configuration class, say) does not import every heavy module the package offers.

    __getattr__, __dir__ = lazy_exports(__name__, {"compute_circuit": "circuits.circuit", ...})

`from package import name` and `package.name` work as with eager re-exports; the module that
defines `name` is imported the first time it is asked for.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, which offers each name of `exports` (name ->
    the module that defines it)."""

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(sys.modules[package], name, value)  # found once, then an ordinary attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
