"""Clean and patch states of every SAE node, and the three baselines.

The *state* of submodule s on a batch is its features and error, f_s = encode(x_s) [b, pos, n]
and e_s = x_s - decode(f_s) [b, pos, d], so that x_s = decode(f_s) + e_s exactly. An indirect
effect compares the clean state with a *patch* state, which is one of

- `zero`: f = 0 and e = 0 (Marks et al.'s default when no patch input is given; the submodule
  output becomes decode(0) = b_dec);
- `mean`: f and e replaced by their means over the real tokens of a dataset (`compute_means`);
- `patch`: the states of a contrastive input given in the batch as `patch_input_ids` and
  `patch_attention_mask` (same shape as the clean input, positions aligned).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from circuits.config import Baseline
from circuits.metrics import Metric
from circuits.runner import run_metric
from ssae.dictionary import Dictionary
from ssae.errors import DataError
from ssae.models import LoadedModel, SubmoduleSpec


@dataclass
class State:
    """Features [b, pos, n] and error [b, pos, d] of one submodule (or broadcastable means)."""

    f: torch.Tensor
    err: torch.Tensor | None
    """None when not computed (node effects need only f and x, see `circuits.effects`)."""
    x: torch.Tensor | None = None
    """The activation itself when it was observed (equal to decode(f) + err)."""

    def output(self, sae: Dictionary) -> torch.Tensor:
        """The submodule output this state stands for, decode(f) + err."""
        return self.x if self.x is not None else sae.decode(self.f) + self.err


def _stop_after(spec: SubmoduleSpec) -> Metric:
    """A dummy metric that only ends the pass after `spec`."""
    return Metric(fn=lambda x, batch: x.new_zeros(x.shape[0]), reads=spec.name, name="stop")


def encode_states(
    lm: LoadedModel,
    saes: dict[str, Dictionary],
    specs: list[SubmoduleSpec],
    batch: dict,
    metric: Metric | None = None,
    errors: bool = True,
) -> tuple[dict[str, State], torch.Tensor | None]:
    """Clean states of `specs` on `batch` and the metric per example (no gradients).

    Without `errors` the error is not computed (it costs a decode per submodule)."""
    states: dict[str, State] = {}

    def observer(name: str):
        def fn(x: torch.Tensor) -> None:
            if errors:
                f, err = saes[name].features_and_error(x)
            else:
                f, err = saes[name].encode(x), None
            states[name] = State(f, err, x)

        return fn

    observe = {s.name: observer(s.name) for s in specs}
    with torch.no_grad():
        m = run_metric(lm, batch, metric or _stop_after(specs[-1]), observe=observe)
    return states, (m if metric is not None else None)


def patch_batch(batch: dict) -> dict:
    """The contrastive input of a batch, with every other key (labels...) shared."""
    if "patch_input_ids" not in batch:
        raise DataError(
            "the patch baseline needs contrastive inputs: give each batch patch_input_ids and "
            "patch_attention_mask (or use --baseline zero / mean)"
        )
    if batch["patch_input_ids"].shape != batch["input_ids"].shape:
        raise DataError(
            "patch and clean inputs must have the same shape (positions are patched one to one); "
            f"got {tuple(batch['patch_input_ids'].shape)} vs {tuple(batch['input_ids'].shape)}"
        )
    out = dict(batch)
    out["input_ids"] = batch["patch_input_ids"]
    out["attention_mask"] = batch.get("patch_attention_mask", batch["attention_mask"])
    return out


def patch_states(
    lm: LoadedModel,
    saes: dict[str, Dictionary],
    specs: list[SubmoduleSpec],
    batch: dict,
    baseline: Baseline,
    clean: dict[str, State],
    metric: Metric | None = None,
    errors: bool = True,
) -> tuple[dict[str, State], torch.Tensor | None]:
    """Patch states (broadcastable against the clean ones) and, for `patch`, the patch metric."""
    if baseline.kind == "patch":
        return encode_states(lm, saes, specs, patch_batch(batch), metric, errors)
    out = {}
    for s in specs:
        c = clean[s.name]
        if baseline.kind == "zero":
            d = saes[s.name].activation_dim
            out[s.name] = State(c.f.new_zeros(1, 1, c.f.shape[-1]), c.f.new_zeros(1, 1, d))
        else:
            if s.name not in baseline.means:
                raise DataError(
                    f"mean baseline has no means for submodule {s.name}: compute them with "
                    "circuits.compute_means, or let compute_circuit do it"
                )
            mean = baseline.means[s.name]
            out[s.name] = State(
                mean.f.to(c.f).reshape(1, 1, -1), mean.err.to(c.f).reshape(1, 1, -1)
            )
    return out, None


def compute_means(
    lm: LoadedModel, saes: dict[str, Dictionary], batches, names: list[str] | None = None
) -> dict[str, State]:
    """Mean features and mean error of each submodule over the real tokens of `batches`."""
    from circuits.runner import ordered_specs

    specs = ordered_specs(lm, names or list(saes))
    sums: dict[str, list[torch.Tensor]] = {}
    count = 0
    for batch in batches:
        states, _ = encode_states(lm, saes, specs, batch)
        mask = batch["attention_mask"].to(lm.device).bool()
        count += int(mask.sum())
        for name, st in states.items():
            f, e = st.f[mask].sum(0), st.err[mask].sum(0)
            if name in sums:
                sums[name][0] += f
                sums[name][1] += e
            else:
                sums[name] = [f, e]
    if count == 0:
        raise DataError("cannot compute mean activations: the batches hold no tokens")
    return {name: State(f / count, e / count) for name, (f, e) in sums.items()}
