"""Scalar metrics whose indirect effects a circuit explains.

A `Metric` says which activation it reads and how it turns that activation into one number per
example. It reads either

- a submodule output (`reads="resid_out_layer4"`): the forward pass is cut right after that
  submodule, so neither the later layers nor the unembedding are run; or
- the logits (`reads="logits"`): the whole model runs.

`fn(activation, batch) -> Tensor[batch]` receives the activation `[batch, pos, d]` (or the logits
`[batch, pos, vocab]`) and the batch dict (`input_ids`, `attention_mask` and any extra per-example
keys such as `labels`); circuits differentiate the sum of its output.

Two metrics of Marks et al. (2024) are built in:

- `probe_metric`: a linear probe on mean-pooled activations (Bias in Bios: residual stream after
  layer 4, pooled over non-pad tokens); m = -(logit if label == 1 else -logit), the negative
  logit of the correct class.
- `logit_diff`: logit(correct) - logit(incorrect) at the last real token of each example.

`next_token_loss` (mean next-token cross-entropy over real tokens) is a generic metric that needs
no labels, for plain token datasets.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from safetensors import safe_open

from circuits.config import METRIC_SPECS
from ssae.errors import ConfigError, DataError, ToolkitError

LOGITS = "logits"


@dataclass(frozen=True)
class Metric:
    """A scalar per example, computed from one activation of the model."""

    fn: Callable[[torch.Tensor, dict], torch.Tensor]
    """(activation or logits, batch) -> Tensor[batch]; differentiable in the activation."""
    reads: str = LOGITS
    """Submodule name whose output the metric reads (e.g. `resid_out_layer4`), or `logits`."""
    name: str = "metric"
    """Short name, shown on the metric node of the graph."""

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError("Metric.fn must be callable")
        if not self.reads:
            raise ConfigError("Metric.reads must name a submodule or be 'logits'")

    @property
    def needs_logits(self) -> bool:
        return self.reads == LOGITS

    def __call__(self, activation: torch.Tensor, batch: dict) -> torch.Tensor:
        out = self.fn(activation, batch)
        if out.ndim != 1 or out.shape[0] != activation.shape[0]:
            raise ToolkitError(
                f"metric {self.name} returned shape {tuple(out.shape)}; it must return one value "
                f"per example, shape ({activation.shape[0]},)"
            )
        return out


def mean_pool(acts: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of `acts` [b, pos, d] over the positions where `attention_mask` is 1."""
    mask = attention_mask.to(acts.dtype)[..., None]
    return (acts * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def last_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token of each right-padded row."""
    return attention_mask.long().sum(1).clamp_min(1) - 1


def probe_metric(
    weight: torch.Tensor,
    bias: torch.Tensor | float = 0.0,
    reads: str = "resid_out_layer4",
    label_key: str = "labels",
    name: str = "probe",
) -> Metric:
    """Negative logit of the correct class of a linear probe on mean-pooled activations.

    With z = w . mean_pool(x) + b: m = -z for label 1 and m = z for label 0, so a positive effect
    on m is an effect against the correct answer (Marks et al.'s Bias-in-Bios metric).
    """
    w = torch.as_tensor(weight, dtype=torch.float32).reshape(-1)
    b = torch.as_tensor(bias, dtype=torch.float32).reshape(())

    def fn(acts: torch.Tensor, batch: dict) -> torch.Tensor:
        if label_key not in batch:
            raise DataError(f"the probe metric needs per-example labels under {label_key!r}")
        pooled = mean_pool(acts, batch["attention_mask"].to(acts.device))
        z = pooled @ w.to(acts) + b.to(acts)
        labels = torch.as_tensor(batch[label_key], device=acts.device)
        sign = torch.where(labels.bool(), -1.0, 1.0).to(acts.dtype)
        return sign * z

    return Metric(fn=fn, reads=reads, name=name)


def load_probe_metric(
    path: str | os.PathLike, reads: str | None = None, label_key: str = "labels"
) -> Metric:
    """A `probe_metric` from a safetensors file with `weight` ([d] or [1, d]) and `bias`.

    The keys may also be `net.weight`/`net.bias` (the files `probes.probe.save_probe` writes).

    The submodule the probe reads comes from `reads`, else from the file's metadata key
    `submodule`.
    """
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = set(f.keys())
            meta = f.metadata() or {}
            # `weight`/`bias`, or the `net.` prefix of probes.probe.save_probe
            prefix = "net." if "net.weight" in keys else ""
            if f"{prefix}weight" not in keys:
                raise DataError(f"probe file {path} has no 'weight' tensor (keys: {sorted(keys)})")
            weight = f.get_tensor(f"{prefix}weight")
            has_bias = f"{prefix}bias" in keys
            bias = f.get_tensor(f"{prefix}bias") if has_bias else torch.zeros(())
    except DataError:
        raise
    except Exception as e:  # safetensors has its own error type for a torn file; same fix
        raise DataError(f"cannot read probe weights {path}: {e}") from e
    if weight.numel() != weight.shape[-1]:
        raise DataError(f"probe {path} must have one output (weight [d] or [1, d])")
    reads = reads or meta.get("submodule")
    if not reads:
        raise DataError(
            f"probe {path} does not say which activation it reads: pass the submodule name "
            "(e.g. --reads resid_out_layer4) or store it as metadata 'submodule'"
        )
    return probe_metric(weight, bias, reads=reads, label_key=label_key)


def logit_diff(
    correct_key: str = "correct_id", incorrect_key: str = "incorrect_id", name: str = "logit-diff"
) -> Metric:
    """logit[correct] - logit[incorrect] at the last real token (ids per example in the batch)."""

    def fn(logits: torch.Tensor, batch: dict) -> torch.Tensor:
        for key in (correct_key, incorrect_key):
            if key not in batch:
                raise DataError(f"the logit-diff metric needs per-example token ids under {key!r}")
        rows = torch.arange(logits.shape[0], device=logits.device)
        last = logits[rows, last_positions(batch["attention_mask"]).to(logits.device)]
        good = torch.as_tensor(batch[correct_key], device=logits.device).long()
        bad = torch.as_tensor(batch[incorrect_key], device=logits.device).long()
        return last[rows, good] - last[rows, bad]

    return Metric(fn=fn, reads=LOGITS, name=name)


def next_token_loss(name: str = "loss") -> Metric:
    """Mean next-token cross-entropy over the real tokens of each example."""

    def fn(logits: torch.Tensor, batch: dict) -> torch.Tensor:
        ids = batch["input_ids"].to(logits.device)
        mask = batch["attention_mask"].to(logits.device)[:, 1:].to(logits.dtype)
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        nll = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
        return (nll * mask).sum(1) / mask.sum(1).clamp_min(1.0)

    return Metric(fn=fn, reads=LOGITS, name=name)


def metric_from_spec(spec: str, reads: str | None = None) -> Metric:
    """The metric a text names: `logit-diff`, `loss`, or `probe:PATH` (reading `reads`, else the
    submodule the probe file's metadata names)."""
    if spec == "logit-diff":
        return logit_diff()
    if spec == "loss":
        return next_token_loss()
    if spec.startswith("probe:"):
        return load_probe_metric(spec[len("probe:") :], reads=reads)
    raise ToolkitError(f"unknown metric {spec!r}; use {METRIC_SPECS}")
