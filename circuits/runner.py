"""Forward passes with edits at submodules, cut short after the metric's activation.

Every computation in this package is one or more forward passes in which some submodule outputs
are replaced (`edits[name](x) -> x'`), followed by the metric. The passes use plain PyTorch
forward hooks on the modules named by `ssae.models.SubmoduleSpec` rather than nnsight traces:
they need autograd leaves created inside the pass, many passes per batch, and an early exit; a hook
that raises `_StopForward` right after the metric's submodule does the last cheaply (no later
layers, no 50k-vocabulary unembedding), and the autograd graph built so far stays usable.

Model parameters are frozen during the passes (`frozen`), so a backward computes gradients with
respect to activations only, not the weight gradients a training step would.

Clean-prefix reuse: many passes differ from a clean pass only from some submodule s onwards (IG
with s alone interpolated, an ablation whose first edit is at s). Every module that finishes
before s then computes exactly what it computed in the clean pass, so a pass can be handed those
outputs (`known`, recorded once with `Recorder`): such a module returns the recorded output
instead of running, and a layer that returns one is never entered. Only the suffix from s is
computed, with the same inputs as before, so the result is the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

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


def tile_output(output: Any, k: int) -> Any:
    """A module output (tensor, or tuple of tensors and None) repeated `k` times on the batch axis,
    block-major like `tile_batch`."""
    if k == 1 or output is None:
        return output
    if isinstance(output, tuple):
        return tuple(tile_output(o, k) for o in output)
    return output.repeat(k, *([1] * (output.ndim - 1)))


class Recorder:
    """Collects, during one pass, the raw output (as the module returns it, before any edit and
    detached from autograd) of each submodule in `names`."""

    def __init__(self, names: Iterable[str]):
        self.names = frozenset(names)
        self.outputs: dict[str, Any] = {}

    def keep(self, name: str, output: Any) -> None:
        if isinstance(output, tuple):
            self.outputs[name] = tuple(o.detach() if torch.is_tensor(o) else o for o in output)
        else:
            self.outputs[name] = output.detach()


@contextlib.contextmanager
def known_outputs(lm: LoadedModel, known: dict[str, Callable[[], Any]]) -> Iterator[None]:
    """For the duration, the module of each named submodule returns `known[name]()` without
    running (forward hooks still run on that output)."""
    saved = []
    for name, value in known.items():
        module = lm.submodule(name).module(lm.model)
        saved.append((module, module.__dict__.get("forward")))
        module.forward = lambda *args, _value=value, **kwargs: _value()
    try:
        yield
    finally:
        for module, own in saved:
            if own is None:
                del module.forward
            else:
                module.forward = own


def batch_size(batch: dict) -> int:
    return int(batch["input_ids"].shape[0])


def run_metric(
    lm: LoadedModel,
    batch: dict,
    metric: Metric,
    edits: dict[str, Edit] | None = None,
    observe: dict[str, Edit] | None = None,
    known: dict[str, Callable[[], Any]] | None = None,
    record: Recorder | None = None,
) -> torch.Tensor:
    """Metric per example [b] of one forward pass with `edits` applied.

    `edits[name](x)` returns the new output of submodule `name`; `observe[name](x)` is called on
    the (edited) output and its result ignored. `known[name]()` is the raw output of submodule
    `name` on this batch, returned by its module instead of running it (clean-prefix reuse,
    module docstring); `record` collects raw outputs. Grad mode is the caller's.
    """
    edits = edits or {}
    observe = observe or {}
    names = set(edits) | set(observe) | (set(record.names) if record is not None else set())
    if not metric.needs_logits:
        names.add(metric.reads)
    specs = ordered_specs(lm, names)
    result: dict[str, torch.Tensor] = {}

    def make_hook(name: str):
        def hook(module, args, output):
            if record is not None and name in record.names:
                record.keep(name, output)
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
        with known_outputs(lm, known or {}):
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
