"""CLI options generated from the configuration dataclasses: each default and help text once."""

from __future__ import annotations

import dataclasses

from click.testing import CliRunner

from shift.cli import cli
from shift.commands.run import run_options
from shift.config import OPTIONS, RunConfig, section_class
from ssae.configs import field_docs
from ssae.train import FinetuneConfig


def _help(*args: str) -> str:
    return " ".join(CliRunner().invoke(cli, [*args, "--help"]).output.split())


def test_every_run_option_sets_a_field_and_shows_its_docstring():
    text = _help("run")
    for name, (section, field) in OPTIONS.items():
        cls = section_class(section)
        assert field in {f.name for f in dataclasses.fields(cls)}, name
        doc = field_docs(cls)[field]
        assert doc and doc.split()[0] in text, name
    # written once: the TERM tilt's help is FinetuneConfig's docstring, in run and sae finetune
    tilt = field_docs(FinetuneConfig)["tilt"]
    assert tilt in text and tilt in _help("sae", "finetune")


def test_defaults_come_from_the_classes_and_the_presets():
    text = _help("run")
    assert (
        "--max-k INTEGER The skyline sweeps k = 1..max_k features (SSAE paper: 200). [default: 200]"
        in text
    )
    # a setting the presets choose shows each preset's value
    assert "[default: micro 0.03, paper 0.1, tiny 0.03]" in text
    assert "--method, --sae TEXT" in text and "--saes" not in text  # --saes: retired, hidden


def test_given_options_override_only_what_was_given():
    opts = run_options()
    values = {o.name: None for o in opts} | {"tilt": 500.0, "max_k": 7, "preset": "micro"}
    from shift.commands.options import given

    cfg = RunConfig.from_options(**given(values, opts))
    assert cfg.finetune.tilt == 500.0 and cfg.selection.max_k == 7
    # the rest of the finetuning settings are the micro preset's
    from shift.presets import get_preset

    assert dataclasses.replace(cfg.finetune, tilt=0.0) == get_preset("micro").finetune
    assert cfg.circuit.node_threshold == 0.03 and cfg.effects.ig_mode == "per_submodule"
