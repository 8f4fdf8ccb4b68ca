"""Forward passes with edits at submodules, cut short after the metric's activation.

Every computation in this package is one or more forward passes in which some submodule outputs
are replaced (`edits[name](x) -> x'`), followed by the metric. The passes use plain PyTorch
forward hooks on the modules named by `ssae.models.SubmoduleSpec` rather than nnsight traces:
they need autograd leaves created inside the pass, many passes per batch, and an early exit; a hook
that raises `_StopForward` right after the metric's submodule does the last cheaply (no later
layers, no 50k-vocabulary unembedding), and the autograd graph built so far stays usable.

Model parameters are frozen during the passes (`frozen`), so a backward computes gradients with
respect to activations only, not the weight gradients a training step would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch

from circuits.metrics import Metric
from ssae.errors import ToolkitError
from ssae.models import LoadedModel, SubmoduleSpec

Edit = Callable[[torch.Tensor], torch.Tensor]


class _StopForward(Exception):
    """Raised by the metric's hook once the metric is computed; caught by `run_metric`."""


@contextlib.contextmanager
def frozen(*modules: torch.nn.Module) -> Iterator[None]:
    """Turn off `requires_grad` on every parameter of `modules` for the duration, then restore it."""
    flags = [(p, p.requires_grad) for m in modules for p in m.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def ordered_specs(lm: LoadedModel, names) -> list[SubmoduleSpec]:
    """Specs of `names` in forward order; unknown names raise a one-line error."""
    by_name = {s.name: s for s in lm.submodules()}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ToolkitError(
            f"model {lm.name} has no submodule(s) {missing}; valid names look like embed, "
            "attn_out_layer0, mlp_out_layer0, resid_out_layer0"
        )
    return sorted((by_name[n] for n in names), key=lambda s: s.order)


def reachable_specs(lm: LoadedModel, names, metric: Metric) -> list[SubmoduleSpec]:
    """The submodules of `names` that can influence the metric (at or before what it reads)."""
    specs = ordered_specs(lm, names)
    if metric.needs_logits:
        return specs
    (read,) = ordered_specs(lm, [metric.reads])
    return [s for s in specs if s.order <= read.order]


def tile_batch(batch: dict, k: int) -> dict:
    """Repeat every per-example entry `k` times along the batch axis (block-major)."""
    if k == 1:
        return batch
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and value.ndim >= 1:
            out[key] = value.repeat(k, *([1] * (value.ndim - 1)))
        elif isinstance(value, list):
            out[key] = value * k
        else:
            out[key] = value
    return out


def batch_size(batch: dict) -> int:
    return int(batch["input_ids"].shape[0])


def run_metric(
    lm: LoadedModel,
    batch: dict,
    metric: Metric,
    edits: dict[str, Edit] | None = None,
    observe: dict[str, Edit] | None = None,
) -> torch.Tensor:
    """Metric per example [b] of one forward pass with `edits` applied.

    `edits[name](x)` returns the new output of submodule `name`; `observe[name](x)` is called on
    the (edited) output and its result ignored. Grad mode is the caller's.
    """
    edits = edits or {}
    observe = observe or {}
    names = set(edits) | set(observe)
    if not metric.needs_logits:
        names.add(metric.reads)
    specs = ordered_specs(lm, names)
    result: dict[str, torch.Tensor] = {}

    def make_hook(name: str):
        def hook(module, args, output):
            is_tuple = isinstance(output, tuple)
            x = output[0] if is_tuple else output
            if name in edits:
                x = edits[name](x)
            if name in observe:
                observe[name](x)
            if name == metric.reads:
                result["m"] = metric(x, batch)
                raise _StopForward
            if name in edits:
                return (x, *output[1:]) if is_tuple else x
            return None

        return hook

    handles = [s.module(lm.model).register_forward_hook(make_hook(s.name)) for s in specs]
    device = lm.device
    try:
        out = lm.model(
            input_ids=batch["input_ids"].to(device),
            attention_mask=batch["attention_mask"].to(device),
            use_cache=False,
        )
        result["m"] = metric(out.logits, batch)
    except _StopForward:
        pass
    finally:
        for h in handles:
            h.remove()
    return result["m"]
