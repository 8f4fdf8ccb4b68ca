"""The `shift` command: one click group, one module per subcommand group under `shift.commands`.

A user's mistake must read as one line, not a traceback: any `ToolkitError`, and any `ValueError`
or `OSError` (a file that will not decode or parse, a folder that cannot be written) that escapes a
command, becomes `Error: ...` on one line and exit status 1; a missing or malformed option is one
`Error: ...` line naming the command's help, with click's exit status 2. `shift --debug ...` or
`SHIFT_DEBUG=1` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from ssae.errors import ToolkitError

COMMANDS = {
    "world": (
        "shift.commands.world",
        "The tiny world: generated corpus, trained Pythia-style LM and a Bias-in-Bios-style "
        "dataset.",
    ),
    "probe": (
        "shift.commands.probe",
        "Train and evaluate the Original, CBP and Oracle probes; write OUT/results.json.",
    ),
    "sae": (
        "shift.commands.sae",
        "Sparse autoencoder sets: train, finetune (ERM / TERM), evaluate, compress.",
    ),
    "retrieve": (
        "shift.commands.retrieve",
        "Select subdomain documents from a corpus for a few seed examples.",
    ),
    "circuit": (
        "shift.commands.circuit",
        "Feature circuits: node and edge effects of SAE features on a metric, and their graph.",
    ),
    "run": (
        "shift.commands.run",
        "Run every SHIFT stage of one method and print the results table.",
    ),
    "bench": (
        "shift.commands.bench",
        "Compare methods and SAE architectures: worst-group, profession and gender accuracy.",
    ),
    "study": (
        "shift.commands.study",
        "SSAE studies on a subdomain: data selection, Pareto curves, tail concepts, Tilted ERM.",
    ),
}
"""Command name -> (its module, which defines a click command of that name; the first paragraph
of its help, for `shift --help`, which then imports no command module: a test keeps the two
equal)."""


class _LazyGroup(click.Group):
    """Imports a subcommand's module only when that command runs (or prints its own help), so
    `shift --help` answers at once."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        return getattr(importlib.import_module(COMMANDS[name][0]), name)

    def format_commands(self, ctx, formatter):
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])


# Set by the group's --debug option, which click parses before the command runs.
_state = {"debug": False}


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="shift-toolkit")
@click.option(
    "--debug",
    is_flag=True,
    envvar="SHIFT_DEBUG",
    help="Show the full traceback of an error (also SHIFT_DEBUG=1).",
)
def cli(debug):
    """SHIFT: find the sparse-feature circuit behind a classifier and remove spurious features.

    Start with `shift run --dataset bib --method ssae --preset tiny`.
    """
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _state["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    _state["debug"] = False
    try:
        cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.UsageError as e:  # a missing or malformed option: one line, not click's block
        where = e.ctx.command_path if e.ctx is not None else "shift"
        message = " ".join(e.format_message().split())
        click.echo(f"Error: {message} (see `{where} --help`)", err=True)
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted; finished stages are cached and a rerun resumes.", err=True)
        sys.exit(130)
    except (ToolkitError, ValueError, OSError) as e:
        if _state["debug"] or _env_debug():
            raise
        click.echo(f"Error: {one_line(e)}", err=True)
        sys.exit(1)


def _env_debug() -> bool:
    return os.environ.get("SHIFT_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def one_line(e: BaseException) -> str:
    """The error as one line; errors that are not the toolkit's own also say how to see more."""
    if isinstance(e, OSError) and e.strerror and e.filename is not None:
        text = f"{e.filename}: {e.strerror}"
    else:
        text = str(e) or type(e).__name__
    text = " ".join(text.split())
    if isinstance(e, ToolkitError):
        return text
    return f"{text} ({type(e).__name__}; rerun with shift --debug for the traceback)"


if __name__ == "__main__":
    main()
