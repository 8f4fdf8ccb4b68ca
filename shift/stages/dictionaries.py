"""Stages `gsae`, `retrieve` and `ssae`: the dictionaries a method edits.

- `gsae`: the preset's general SAEs, loaded from a dictionary_learning folder (hub or local), or
  trained on the corpus when the preset names none (`[gsae]`).
- `retrieve`: subdomain documents for a few Bias in Bios seed biographies (SSAE paper: dense
  retrieval, 8M tokens from 5 seeds).
- `ssae`: the GSAEs finetuned on the retrieved tokens (ERM, or TERM with a tilt). A compressed
  method slices the GSAEs to their first `compress_k` features *before* finetuning ("Comp. SSAE is
  initialized with Comp. GSAE", SSAE paper), so its stage key differs from the full SSAE's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from shift.stages.context import RunContext
from ssae.content import content_hash, source_key
from ssae.errors import ToolkitError
from ssae.io import stable_hash
from ssae.sae_set import SET_FILE, SAESet


@dataclass(frozen=True)
class Dictionaries:
    """A set of dictionaries on disk (or the neurons), with the cache key that identifies it."""

    key: str
    """Identifies the set for the stages that read it."""
    dir: Path | None
    """Folder in the dictionary_learning layout; None for the neurons."""
    width: int | None = None
    """Features kept per dictionary when loading (compressed methods); None keeps all."""
    dict_id: str | None = None
    """Run folder under each submodule folder (e.g. `10_32768`); None finds the only one."""

    def load(self, ctx: RunContext, device=None) -> SAESet:
        """The set on `device` (default: the model's), cut to `width` features."""
        names = ctx.preset.submodule_names
        if self.dir is None:
            return SAESet.identity(ctx.lm, names=names)
        device = ctx.lm.device if device is None else device
        saes = SAESet.load(self.dir, ctx.lm, names=names, dict_id=self.dict_id, device=device)
        if self.width is not None and max(d.dict_size for d in saes.values()) > self.width:
            saes = saes.slice(self.width)
        return saes


@dataclass(frozen=True)
class EditedDictionaries:
    """What the `gsae`, `retrieve` and `ssae` stages produced for one method."""

    edited: Dictionaries
    """The dictionaries the method edits."""
    general: Dictionaries | None
    """Their general parent at the same width (compared with SSAEs in the SAE evaluation)."""
    stage_keys: dict[str, str]
    """Keys of the stages that made them (`gsae`, `retrieve`, `ssae`), for the report."""


def run_dictionaries(ctx: RunContext) -> EditedDictionaries:
    edit = ctx.method.edit
    if edit.dictionaries == "neurons":
        return EditedDictionaries(Dictionaries("neurons", None), None, {})
    width = ctx.preset.compress_k if edit.compressed else None
    gsae = run_gsae(ctx)
    key = stable_hash({"gsae": gsae.key, "width": width}) if width else gsae.key
    general = replace(gsae, key=key, width=width)
    if edit.dictionaries == "gsae":
        return EditedDictionaries(general, general, {"gsae": gsae.key})
    tokens, retrieval_key = run_retrieve(ctx, gsae)
    ssae = run_ssae(ctx, gsae, tokens, retrieval_key, width)
    keys = {"gsae": gsae.key, "retrieve": retrieval_key, "ssae": ssae.key}
    return EditedDictionaries(ssae, general, keys)


def run_gsae(ctx: RunContext) -> Dictionaries:
    preset = ctx.preset
    if preset.saes:
        folder = _sae_folder(preset.saes)
        key = stable_hash({"saes": _sae_content(folder, preset), "dict_id": preset.sae_subfolder})
        return Dictionaries(key, folder, dict_id=preset.sae_subfolder)

    from ssae.retrieval.corpus import load_corpus
    from ssae.tokens import TokenDataset
    from ssae.train import train_saes

    tc = replace(preset.gsae, dict_size=preset.sae_width, names=preset.submodule_names)
    corpus = load_corpus(preset.corpus)
    inputs = {
        "model": ctx.model_key,
        "corpus": corpus.fingerprint,
        "train": tc.fingerprint(),
        "ctx_len": preset.ctx_len,
    }

    def fn(d: Path) -> dict:
        tokens = TokenDataset.from_texts(
            corpus.texts, ctx.lm.tokenizer, ctx_len=preset.ctx_len, source=preset.corpus
        )
        train_saes(ctx.lm, tokens, tc, d / "run")
        return {}

    stage = ctx.runner.run("gsae", inputs, fn)
    return Dictionaries(stage.key, stage.dir / "run")


def run_retrieve(ctx: RunContext, gsae: Dictionaries) -> tuple[Path, str]:
    """(token dataset folder, stage key) of the retrieved subdomain data."""
    from shift.data.bib import seed_examples
    from ssae.retrieval.pipeline import retrieve

    rc = ctx.cfg.retrieval
    seeds = seed_examples(ctx.bib, rc.n_seeds, seed=ctx.cfg.seed)
    inputs = {"config": asdict(rc), "seeds": seeds, "corpus": source_key(ctx.preset.corpus)}
    inputs["model"] = ctx.model_key
    if rc.uses_tracin:  # only TracIn reads the general SAEs
        inputs["gsae"] = gsae.key

    def fn(d: Path) -> dict:
        res = retrieve(ctx.preset.corpus, seeds, ctx.lm, d / "retrieval", rc, saes=gsae.dir)
        summary = {"n_docs": len(res.doc_ids), "n_tokens": res.n_tokens}
        if res.topics is not None:
            summary["precision_biography"] = res.precision("biography")
        return summary

    stage = ctx.runner.run("retrieve", inputs, fn)
    return stage.dir / "retrieval" / "tokens", stage.key


def run_ssae(
    ctx: RunContext, gsae: Dictionaries, tokens: Path, retrieval_key: str, width: int | None
) -> Dictionaries:
    from ssae.tokens import TokenDataset
    from ssae.train import finetune_saes

    ft = replace(ctx.cfg.finetune, seed=ctx.cfg.seed)
    inputs = {
        "gsae": gsae.key,
        "retrieve": retrieval_key,
        "finetune": ft.fingerprint(),
        "sliced_to": width,
    }

    def fn(d: Path) -> dict:
        general = replace(gsae, width=width).load(ctx, device="cpu")
        finetune_saes(ctx.lm, general, TokenDataset.load(tokens), ft, d / "run")
        return {}

    stage = ctx.runner.run("ssae", inputs, fn)
    return Dictionaries(stage.key, stage.dir / "run")


def _sae_content(folder: Path, preset) -> str:
    """Content hash of the part of a dictionary folder the run reads: the preset's submodules
    (their `sae_subfolder` runs when it names one) and the set's own description."""
    runs = [
        f"{n}/{preset.sae_subfolder}"
        if preset.sae_subfolder and (folder / n / preset.sae_subfolder).exists()
        else n
        for n in preset.submodule_names
    ]
    return content_hash(folder, only=[r for r in (*runs, SET_FILE) if (folder / r).exists()])


def _sae_folder(source: str) -> Path:
    """A local dictionary folder, or a hub repo of one fetched into the HF cache."""
    if Path(source).exists():
        return Path(source)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(source))
    except Exception as e:  # the hub client raises many types for "not reachable / not cached"
        raise ToolkitError(
            f"SAE repo {source!r} is not reachable and not cached: pass --sae-folder PATH to a folder in "
            "the dictionary_learning layout, or use --preset tiny"
        ) from e
