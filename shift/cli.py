"""The `shift` command: one click group, one module per subcommand group under `shift.commands`.

Any `ToolkitError` raised below becomes a one-line `Error: ...` and exit status 1.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from ssae.errors import ToolkitError

# name -> (module, attribute); each module owns one command or group.
_COMMANDS = {
    "world": ("shift.commands.world", "world"),
    "probe": ("shift.commands.probe", "probe"),
    "sae": ("shift.commands.sae", "sae"),
    "retrieve": ("shift.commands.retrieve", "retrieve"),
    "circuit": ("shift.commands.circuit", "circuit"),
    "run": ("shift.commands.run", "run"),
    "bench": ("shift.commands.bench", "bench"),
    "study": ("shift.commands.study", "study"),
}


class _LazyGroup(click.Group):
    """Imports a subcommand's module only when it is used, so `shift --help` stays fast."""

    def list_commands(self, ctx):
        return [n for n, (mod, _) in _COMMANDS.items() if importlib.util.find_spec(mod) is not None]

    def get_command(self, ctx, name):
        if name not in _COMMANDS:
            return None
        mod, attr = _COMMANDS[name]
        if importlib.util.find_spec(mod) is None:
            return None
        return getattr(importlib.import_module(mod), attr)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shift-toolkit")
def cli():
    """SHIFT: find the sparse-feature circuit behind a classifier and remove spurious features.

    Start with `shift run --dataset bib --sae ssae --preset tiny`.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except ToolkitError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted; finished stages are cached and a rerun resumes.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
