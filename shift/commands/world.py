"""`shift world`: build and describe the self-contained tiny world."""

from __future__ import annotations

from pathlib import Path

import click

_preset = click.option(
    "--preset",
    default="tiny",
    show_default=True,
    help="A preset with a built-in world: tiny (used by `shift run --preset tiny`) or micro "
    "(for tests).",
)
_seed = click.option(
    "--seed", type=click.IntRange(min=0), default=0, show_default=True, help="World seed (>= 0)."
)
_home = click.option(
    "--out",
    "--home",
    "home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Cache root the world is written under (default: $SHIFT_HOME or ~/.cache/shift).",
)


@click.group()
def world():
    """The tiny world: generated corpus, trained Pythia-style LM and a Bias-in-Bios-style dataset."""


@world.command()
@_preset
@_seed
@_home
@click.option("--force", is_flag=True, help="Rebuild even if a valid cached world exists.")
@click.option(
    "--verify",
    is_flag=True,
    help="Hash every file of a built world against its manifest (by default: sizes, and the "
    "files whose modification time moved); a damaged world is rebuilt.",
)
def build(preset: str, seed: int, home: Path | None, force: bool, verify: bool):
    """Build the world (deterministic from the seed; cached, so a second call is instant)."""
    from shift.validate import writable_dir
    from shift.world import ensure_world, get_config
    from shift.world.info import format_info

    get_config(preset)  # an unknown preset in one line, before any folder is made
    if home is not None:
        writable_dir(home, "--out")
    paths = ensure_world(preset, seed=seed, home=home, force=force, verify=verify)
    click.echo(format_info(paths.read_manifest()))
    click.echo(f"  path: {paths.root}")


@world.command()
@_preset
@_seed
@_home
def info(preset: str, seed: int, home: Path | None):
    """Print sizes, subdomain counts and held-out cross-entropy of a built world."""
    from shift.world import get_config
    from shift.world.build import WorldPaths, world_dir
    from shift.world.info import format_info
    from shift.world.store import is_built, world_problem

    paths = WorldPaths.at(world_dir(preset, seed, home))
    if not is_built(paths, get_config(preset), seed):
        click.echo(
            f"world {preset} (seed {seed}) is not built at {paths.root}; "
            f"build it with: shift world build --preset {preset} --seed {seed}"
        )
        return
    click.echo(format_info(paths.read_manifest()))
    click.echo(f"  path: {paths.root}")
    problem = world_problem(paths)
    if problem is not None:
        click.echo(f"  damaged: {problem}; `shift world build` rebuilds it")
