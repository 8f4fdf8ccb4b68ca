"""`shift study`: the SSAE paper's studies beyond Bias in Bios (see shift.study).

    shift study data-selection|pareto|tail|term --domain physics|toxicity|tinystories
                [--preset tiny|micro|paper] [--out DIR]

Every trained SAE, selection and measurement is a cached stage under $SHIFT_HOME/stages, shared by
the four studies and by reruns; `--force STAGE` recomputes one kind of stage.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import click

from shift import validate
from shift.study.config import DOMAINS, STUDIES, HubDomain
from shift.validate import DeviceParam

# Which studies a domain supports: TinyStories is a corpus for SAEs trained from scratch.
DOMAIN_STUDIES = {"physics": STUDIES, "toxicity": STUDIES, "tinystories": ("term",)}
STAGE_NAMES = (
    "gsae",
    "study-data",
    "study-select",
    "study-gsae-eval",
    "study-finetune",
    "study-boost",
    "study-scratch",
    "study-eval",
    "study-measure",
)


def _options(f):
    options = [
        click.option(
            "--domain",
            required=True,
            type=click.Choice(DOMAINS),
            help="Subdomain: physics, toxicity (specialised SAEs) or tinystories (from scratch).",
        ),
        click.option(
            "--preset",
            default="tiny",
            show_default=True,
            type=click.Choice(["tiny", "micro", "paper"]),
            help="tiny/micro: the built-in world (offline); paper: hub model, SAEs and datasets.",
        ),
        click.option(
            "--out", type=click.Path(file_okay=False, path_type=Path), help="Report folder."
        ),
        click.option("--model", default=None, help="Override the preset's model (id or path)."),
        click.option("--corpus", default=None, help="Override the corpus (jsonl/parquet or id)."),
        click.option(
            "--sae-folder", "saes", default=None, help="Override the general SAEs (folder or repo)."
        ),
        click.option(
            "--id-data",
            default=None,
            help="In-distribution documents of the domain (hub id or .jsonl/.parquet path).",
        ),
        click.option(
            "--ood-data", default=None, help="Out-of-distribution test documents (id or path)."
        ),
        click.option(
            "--text-field", default="text", show_default=True, help="Text field of --id-data."
        ),
        click.option(
            "--threads",
            default=1,
            show_default=True,
            type=int,
            help="torch CPU threads for SAE training and evaluation (1 is fastest for small "
            "models on shared cores); the retrieval embedder keeps torch's default.",
        ),
        click.option(
            "--tilts",
            default=None,
            help="TERM tilts to compare with ERM, comma-separated (default: the preset's, "
            "500,1e9 as in the SSAE paper).",
        ),
        click.option(
            "--device", default="cpu", show_default=True, type=DeviceParam(), help="cpu or cuda."
        ),
        click.option(
            "--force",
            multiple=True,
            type=click.Choice(STAGE_NAMES),
            help="Recompute this kind of stage (repeatable) even if cached.",
        ),
        click.option("--quiet", is_flag=True, help="No progress bars or stage messages."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group("study", context_settings={"help_option_names": ["-h", "--help"]})
def study():
    """SSAE studies on a subdomain: data selection, Pareto curves, tail concepts, Tilted ERM.

    Each writes <study>.json, <study>.md and PNG figures to --out
    (default runs/study/<study>-<domain>-<preset>).
    """


def _run(name: str, domain: str, preset: str, out: Path | None, **opts) -> None:
    from shift.study import report
    from shift.study.context import open_study
    from shift.study.studies import STUDY_FUNCTIONS
    from ssae.errors import ToolkitError

    if name not in DOMAIN_STUDIES[domain]:
        raise ToolkitError(
            f"domain {domain} supports only {', '.join(DOMAIN_STUDIES[domain])}; "
            "the other studies specialise a general SAE to physics or toxicity"
        )
    if opts["threads"] < 1:
        raise ToolkitError("--threads must be >= 1")
    out = out or Path("runs") / "study" / f"{name}-{domain}-{preset}"
    overrides = {}
    if opts["tilts"]:
        hint = " (t = 0 is the ERM run itself; e.g. 500,1e9)"
        tilts = [validate.finite("--tilts", t, 0, hint) for t in opts["tilts"].split(",")]
        if 0 in tilts:
            raise ToolkitError(f"--tilts must be positive{hint}")
        overrides["tilts"] = tuple(tilts)
    _check_files(preset, out, opts)
    if opts["id_data"]:
        from shift.study.config import get_study_preset

        base = get_study_preset(preset)
        source = HubDomain(opts["id_data"], opts["ood_data"], id_text=opts["text_field"])
        overrides["domains"] = {**base.domains, domain: source}
    t0 = time.perf_counter()
    ctx = open_study(
        preset,
        domain,
        force=tuple(opts["force"]),
        quiet=opts["quiet"],
        model=opts["model"],
        corpus=opts["corpus"],
        saes=opts["saes"],
        study_overrides=overrides,
        device=opts["device"],
        threads=opts["threads"],
    )
    result = STUDY_FUNCTIONS[name](ctx)
    result |= {
        "study": name,
        "domain": domain,
        "preset": preset,
        "submodule": ctx.submodule,
        "gsae_l1": ctx.gsae_l1(),
        "timings_s": {k: round(v, 1) for k, v in ctx.runner.timings.items()},
        "total_s": round(time.perf_counter() - t0, 1),
        "cached_stages": sorted(set(ctx.runner.cached)),
        "settings": _jsonable(dataclasses.asdict(ctx.study)),
    }
    files = report.write(name, result, out)
    click.echo(f"{name} ({domain}, {preset}): {result['total_s']:.1f}s; wrote {len(files)} files")
    click.echo(f"Report: {out / f'{name}.md'}")


def _check_files(preset: str, out: Path, opts: dict) -> None:
    """The local files and folders the options name, before the world or a model is touched."""
    from shift.study.config import get_study_preset

    sources = {
        "--model": opts["model"],
        "--corpus": opts["corpus"],
        "--sae-folder": opts["saes"],
        "--id-data": opts["id_data"],
        "--ood-data": opts["ood_data"],
    }
    for option, value in sources.items():
        validate.local_source(option, value)
    local = {k: Path(v).expanduser() for k, v in sources.items() if v}
    local = {k: p for k, p in local.items() if p.exists()}
    if "--corpus" in local:
        validate.corpus_file(local["--corpus"])
    for option, field in (("--id-data", opts["text_field"]), ("--ood-data", "text")):
        if option in local and not set("+.") & set(field):  # joined or nested fields: hub-style
            validate.corpus_file(local[option], field, option)
    if "--sae-folder" in local:
        names = [get_study_preset(preset).submodule]
        validate.sae_folder(local["--sae-folder"], names=names, model=opts["model"])
    validate.writable_dir(out)


def _jsonable(d: dict) -> dict:
    return {
        k: (str(v) if not isinstance(v, int | float | str | list | tuple | dict) else v)
        for k, v in d.items()
    }


HELP = {
    "data-selection": "SSAEs from every data-selection method on one token budget: Pareto AUC "
    "per method (mean and std over seeds), and the boost SAE.",
    "pareto": "Spliced perplexity against L0 over the L1 sweep, best on validation, in- and "
    "out-of-distribution, absolute and relative to the general SAE.",
    "tail": "Tail concepts: logit-lens coverage by token-frequency bucket, activation counts, "
    "count ratios and planted-concept recall for GSAE, SSAE, TERM-SSAE and boost.",
    "term": "Tilted ERM against ERM (tilts 500, 1e9) at equal L0: error by token rank, decoder "
    "similarity, PCA dimension, activation entropy and maximum.",
}


def _command(name: str):
    @study.command(name, help=HELP[name], context_settings={"help_option_names": ["-h", "--help"]})
    @_options
    def cmd(domain, preset, out, **opts):
        _run(name, domain, preset, out, **opts)

    return cmd


for _name in STUDIES:
    _command(_name)
