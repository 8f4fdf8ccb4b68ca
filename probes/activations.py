"""Mean-pooled activations of one submodule, computed in length-sorted batches and cached on disk.

A probe reads, for a text of T real tokens, the mean of a submodule's output over those tokens

    a(x) = (1 / T) * sum_{t : mask_t = 1} h_t(x),

where h_t is the submodule's output at position t (Marks et al. 2024 use the residual stream after
the penultimate layer, `resid_out_layer{n_layers - 2}`, of Pythia-70M-deduped). Texts are
tokenized once, sorted by length and batched so that each batch is padded only to its own longest
text; the forward stops right after the submodule (nnsight `tracer.stop()`), so the layers above it
and the unembedding are never run. Results are returned in input order.

Pooled activations are cached under `$SHIFT_HOME/activations/<key>.safetensors` where the key
hashes the model (a local model's content, a hub model's id and revision), the texts, the
submodule and the truncation length (None: texts are read whole), so each set is computed once
across runs and commands.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ssae.content import content_hash
from ssae.io import atomic_path, shift_home, stable_hash
from ssae.models import LoadedModel, SubmoduleSpec

DEFAULT_MAX_LENGTH = 128


def default_submodule(lm: LoadedModel) -> str:
    """The probe site of Marks et al.: the residual stream after the penultimate layer."""
    return f"resid_out_layer{max(lm.n_layers - 2, 0)}"


def texts_hash(texts: Sequence[str]) -> str:
    """Digest of an ordered list of texts (length-prefixed, so boundaries are unambiguous)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()[:24]


def model_fingerprint(lm: LoadedModel) -> dict:
    """What identifies a model's weights in a cache key: for a local file or folder the SHA-256 of
    its content (`ssae.content`, computed once per version of each file), never its path or
    times; for a hub model its id and the revision it was loaded at."""
    if Path(lm.name).exists():
        return {"model": content_hash(lm.name)}
    return {"model": lm.name, "revision": getattr(lm.model.config, "_commit_hash", None)}


def activations_key(
    lm: LoadedModel, texts: Sequence[str], submodule: str, max_length: int | None
) -> str:
    return stable_hash(
        {
            **model_fingerprint(lm),
            "texts": texts_hash(texts),
            "n": len(texts),
            "submodule": submodule,
            "max_length": max_length,
            "pool": "mean",
        },
        length=20,
    )


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Row indices grouped into batches of similar length (longest first)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def naive_batches(n: int, batch_size: int) -> list[list[int]]:
    """Row indices in input order: every batch pads to its longest text, wherever it falls."""
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]


def tokenize_unpadded(
    lm: LoadedModel, texts: Sequence[str], max_length: int | None
) -> list[list[int]]:
    """Token ids of each text, cut to `max_length` (None: every token)."""
    cut = max_length is not None
    ids = lm.tokenizer(list(texts), truncation=cut, max_length=max_length)["input_ids"]
    # An empty text would give an empty row and a division by zero in the pooling.
    return [row if len(row) else [lm.tokenizer.pad_token_id] for row in ids]


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return {"input_ids": ids, "attention_mask": mask}


@torch.no_grad()
def read_pooled(
    lm: LoadedModel, spec: SubmoduleSpec, batch: dict[str, torch.Tensor]
) -> torch.Tensor:
    """[batch, d] mean over non-pad positions of `spec`'s output; stops the forward after it."""
    batch = {k: v.to(lm.device) for k, v in batch.items()}
    got: dict[str, torch.Tensor] = {}
    with lm.nn.trace(**batch) as tracer:
        got["x"] = spec.read(lm.nn)
        tracer.stop()
    x = got["x"].float()
    m = batch["attention_mask"].to(x.dtype).unsqueeze(-1)
    return ((x * m).sum(1) / m.sum(1).clamp_min(1.0)).cpu()


@torch.no_grad()
def compute_pooled(
    lm: LoadedModel,
    texts: Sequence[str],
    submodule: str | None = None,
    batch_size: int = 32,
    max_length: int | None = DEFAULT_MAX_LENGTH,
    sort_by_length: bool = True,
    progress: bool = True,
    desc: str = "activations",
) -> torch.Tensor:
    """[len(texts), d] float32 pooled activations, uncached."""
    spec = lm.submodule(submodule or default_submodule(lm))
    rows = tokenize_unpadded(lm, texts, max_length)
    lengths = [len(r) for r in rows]
    batches = (
        length_sorted_batches(lengths, batch_size)
        if sort_by_length
        else naive_batches(len(rows), batch_size)
    )
    out = torch.empty((len(rows), spec.d), dtype=torch.float32)
    pad_id = lm.tokenizer.pad_token_id
    bar = tqdm(total=sum(lengths), desc=desc, unit="tok", disable=not progress, leave=False)
    for idx in batches:
        out[idx] = read_pooled(lm, spec, pad_batch([rows[i] for i in idx], pad_id))
        bar.update(sum(lengths[i] for i in idx))
    bar.close()
    return out


def pooled_activations(
    lm: LoadedModel,
    texts: Sequence[str],
    submodule: str | None = None,
    batch_size: int = 32,
    max_length: int | None = DEFAULT_MAX_LENGTH,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = True,
    desc: str = "activations",
) -> torch.Tensor:
    """Cached `compute_pooled`: [len(texts), d] float32 on the CPU, in input order."""
    submodule = submodule or default_submodule(lm)
    if not use_cache:
        return compute_pooled(
            lm, texts, submodule, batch_size, max_length, progress=progress, desc=desc
        )
    root = Path(cache_dir) if cache_dir is not None else shift_home() / "activations"
    path = root / f"{activations_key(lm, texts, submodule, max_length)}.safetensors"
    if path.exists():
        acts = load_file(path)["pooled"]
        if acts.shape[0] == len(texts):
            return acts
    acts = compute_pooled(
        lm, texts, submodule, batch_size, max_length, progress=progress, desc=desc
    )
    with atomic_path(path) as tmp:
        save_file(
            {"pooled": acts.contiguous()},
            str(tmp),
            metadata={"model": lm.name, "submodule": submodule, "max_length": str(max_length)},
        )
    return acts
