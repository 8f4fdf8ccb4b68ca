"""`shift run`: the whole SHIFT pipeline for one method, ending in the results table.

Its options are generated from `shift.config.RunConfig` and the stage configurations it nests
(`shift.config.OPTIONS` says which field each option sets); defaults and help texts live there.
"""

from __future__ import annotations

import functools

import click

from shift.commands.options import Opt, given, options
from shift.config import OPTIONS, RunConfig, section_class
from shift.validate import check_run
from ssae.errors import ToolkitError

FLAGS = {"method": ("--method", "--sae"), "features_file": ("--features",)}
"""Options whose flag is not the option's name (`--sae` is the older spelling of `--method`)."""
EXISTING_FILES = ("features_file", "labels")


def _default_text(section: str | None, field: str) -> str | None:
    """What the help shows as the default of a field the preset may set."""
    from shift.presets import get_preset, names

    if section == "sources":
        return "professor,nurse" if field == "professions" else "the preset's"
    if section not in ("probe", "finetune", "retrieval", "circuit"):
        return "runs/<dataset>-<method>-<preset>" if field == "out" else None
    values = {p: getattr(getattr(get_preset(p), section), field) for p in names()}
    if len(set(values.values())) == 1:
        return None
    return ", ".join(
        f"{p} {v:g}" if isinstance(v, float) else f"{p} {v}" for p, v in values.items()
    )


@functools.cache
def run_options(*names: str) -> tuple[Opt, ...]:
    """The options of `shift run` (or those named), in `OPTIONS` order."""
    out = []
    for name, (section, field) in OPTIONS.items():
        if names and name not in names:
            continue
        out.append(
            Opt(
                section_class(section),
                field,
                flags=FLAGS.get(name, (f"--{name.replace('_', '-')}",)),
                dest=name,
                default_text=_default_text(section, field),
                multiple=name == "force",
                path=name in EXISTING_FILES,
            )
        )
    return tuple(out)


@click.command("run")
@options(run_options())
@click.option("--saes", "retired_saes", hidden=True, help="Retired: the folder is --sae-folder.")
def run(retired_saes, **values):
    """Run every SHIFT stage of one method and print the results table.

    Stages are cached under $SHIFT_HOME/stages by a key of their inputs: a rerun resumes from what
    is finished, and a changed option recomputes only what depends on it.
    """
    if retired_saes is not None:
        raise ToolkitError(
            f"--saes is retired: pass the dictionary folder as --sae-folder {retired_saes} "
            "(the method is --method)"
        )
    cfg = RunConfig.from_options(**given(values, run_options()))
    # The door: every check that needs no model, before the model stack is imported (seconds).
    check_run(cfg, cfg.sourced_preset())
    from shift.pipeline import run_pipeline

    result = run_pipeline(cfg)
    click.echo("")
    click.echo(result["markdown"])
    total = result["timings"]["total (this run)"]
    ablated = f"k = {result['k']} features ablated; " if result["k"] is not None else ""
    click.echo(f"{ablated}total {total:.1f}s")
    circuit = f"  circuit: {cfg.out / 'circuit.svg'}" if (cfg.out / "circuit.svg").exists() else ""
    click.echo(f"Report: {cfg.out / 'results.md'}{circuit}")
