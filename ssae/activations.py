"""Activations of many submodules from one forward pass, and forward passes with edits.

Training or evaluating one SAE per submodule needs the activation of every submodule for the same
tokens. Reading them one submodule per forward pass costs a forward pass per SAE; here all of them
are read inside one nnsight trace (in forward order, as nnsight requires), and the forward stops
right after the last needed submodule, so neither the later layers nor the unembedding (for
Pythia-70M the most expensive matrix of all) run.

`ActivationCache` reads every document of a small token dataset once and serves the same rows
from memory, for training that passes over the data many times.

`run_with_edits` replaces submodule outputs (e.g. by an SAE reconstruction, or by zeros) and
returns the logits; `next_token_loss` is the per-position cross-entropy of next-token prediction
with padding excluded: position p predicts token p+1 and counts only when token p+1 is real.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from ssae.models import LoadedModel, SubmoduleSpec


@torch.no_grad()
def read_activations(
    lm: LoadedModel,
    specs: list[SubmoduleSpec],
    batch: Mapping[str, torch.Tensor],
    stop: bool = True,
) -> dict[str, torch.Tensor]:
    """Output activation [batch, pos, d] of every spec, from ONE forward pass of the model.

    With `stop`, the forward pass ends after the last spec in forward order.
    """
    specs = sorted(specs, key=lambda s: s.order)
    out: dict[str, torch.Tensor] = {}
    inputs = _model_inputs(lm, batch)
    with lm.nn.trace(**inputs) as tracer:
        for spec in specs:
            out[spec.name] = spec.read(lm.nn)
        if stop:
            tracer.stop()
    return out


@torch.no_grad()
def read_activations_and_logits(
    lm: LoadedModel, specs: list[SubmoduleSpec], batch: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Activations of every spec and the clean logits, from one full forward pass."""
    specs = sorted(specs, key=lambda s: s.order)
    out: dict[str, torch.Tensor] = {}
    with lm.nn.trace(**_model_inputs(lm, batch)):
        for spec in specs:
            out[spec.name] = spec.read(lm.nn)
        logits = lm.nn.output.logits.save()
    return out, logits


class ActivationCache:
    """The activations of every real token of a token dataset at some submodules, read once.

    `rows(docs)` returns, per submodule, the [n_real_tokens, d] rows of those documents in the
    order a forward pass over them gives (document by document, positions in order), without
    running the model: n_tokens x d floats per submodule in memory."""

    def __init__(self, lm: LoadedModel, specs: list[SubmoduleSpec], tokens, batch_docs: int = 32):
        parts: dict[str, list[torch.Tensor]] = {s.name: [] for s in specs}
        for start in range(0, len(tokens), batch_docs):
            docs = torch.arange(start, min(start + batch_docs, len(tokens)))
            width = int(tokens.lengths[docs].max())
            mask = tokens.attention_mask(docs)[:, :width]
            batch = {"input_ids": tokens.input_ids[docs, :width].long(), "attention_mask": mask}
            for name, x in masked_tokens(read_activations(lm, specs, batch), mask).items():
                parts[name].append(x)
        self.acts = {name: torch.cat(p) for name, p in parts.items()}
        self.offsets = torch.zeros(len(tokens) + 1, dtype=torch.long)
        self.offsets[1:] = tokens.lengths.long().cumsum(0)

    def rows(self, docs: torch.Tensor) -> dict[str, torch.Tensor]:
        index = torch.cat([torch.arange(self.offsets[i], self.offsets[i + 1]) for i in docs])
        return {name: a[index.to(a.device)] for name, a in self.acts.items()}


def masked_tokens(acts: Mapping[str, torch.Tensor], mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """Flatten [batch, pos, d] activations to the [n_real_tokens, d] rows where `mask` is set."""
    keep = mask.bool().to(next(iter(acts.values())).device)
    return {name: a[keep] for name, a in acts.items()}


@torch.no_grad()
def run_with_edits(
    lm: LoadedModel,
    batch: Mapping[str, torch.Tensor],
    edits: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
    specs: list[SubmoduleSpec] | None = None,
    prefix: Sequence[torch.Tensor] = (),
) -> torch.Tensor:
    """Logits [batch, pos, vocab] with each named submodule's output replaced by `edit(output)`.

    `prefix`: the clean outputs of layers 0..len(prefix)-1 for this batch (`resid_prefix`); those
    layers are skipped and their outputs taken from it, which gives the same logits as running
    them when every edit is at a later layer (the splice of a deep submodule then costs only the
    layers from its own)."""
    inputs = _model_inputs(lm, batch)
    edits = dict(edits or {})
    if not edits:
        return lm.model(**inputs).logits
    by_name = {s.name: s for s in (specs or lm.submodules())}
    ordered = sorted((by_name[n] for n in edits), key=lambda s: s.order)
    if max(0, ordered[0].layer) < len(prefix):
        raise ValueError(f"edit at {ordered[0].name} lies in the {len(prefix)} skipped layers")
    with lm.nn.trace(**inputs):
        skip_layers(lm, prefix)
        for spec in ordered:
            x = spec.read(lm.nn)
            spec.write(lm.nn, edits[spec.name](x))
        logits = lm.nn.output.logits.save()
    return logits


def skip_layers(lm: LoadedModel, outputs: Sequence[torch.Tensor]) -> None:
    """Inside a trace: layers 0..len(outputs)-1 do not run, and output `outputs[i]` instead
    (nnsight `skip`); given their clean outputs, the rest of the pass is what it would be."""
    layers = lm.submodules(layers=range(len(outputs)), kinds=("resid_out",))
    for spec, out in zip(layers, outputs, strict=True):
        spec.envoy(lm.nn).skip(out)


def resid_stream_specs(lm: LoadedModel, specs: Sequence[SubmoduleSpec]) -> list[SubmoduleSpec]:
    """`specs` and the resid_out of every layer below the deepest of them, in forward order: what
    `read_activations_and_logits` reads so that an edit at any of `specs` can skip the layers
    below its own (`run_with_edits`' `prefix`)."""
    deepest = max((s.layer for s in specs), default=0)
    stream = lm.submodules(layers=range(max(0, deepest)), kinds=("resid_out",))
    by_name = {s.name: s for s in [*specs, *stream]}
    return sorted(by_name.values(), key=lambda s: s.order)


def resid_prefix(
    lm: LoadedModel, acts: Mapping[str, torch.Tensor], spec: SubmoduleSpec
) -> list[torch.Tensor]:
    """The clean outputs of the layers below `spec`'s, from activations read with
    `resid_stream_specs`."""
    return [
        acts[s.name] for s in lm.submodules(layers=range(max(0, spec.layer)), kinds=("resid_out",))
    ]


def next_token_loss(
    logits: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position next-token cross-entropy [batch, pos-1] and the mask of positions that count."""
    target = input_ids[:, 1:]
    valid = attention_mask[:, 1:].bool() & attention_mask[:, :-1].bool()
    ce = F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none"
    ).view_as(target)
    return ce * valid, valid


def _model_inputs(lm: LoadedModel, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    dev = lm.device
    return {k: batch[k].to(dev) for k in ("input_ids", "attention_mask") if k in batch}
