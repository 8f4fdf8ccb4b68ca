"""SHIFT's intervention: ablate chosen dictionary features inside the model.

Every submodule s with chosen features F_s has its output replaced, in one forward pass, by

    x_s  <-  decode(f_s with f_s[F_s] := c_s) + (x_s - decode(f_s)),    f_s = encode(x_s),

i.e. the SAE reconstruction with those features set to c_s (zero for SAE features; their mean for
the neuron skyline's mean ablation) plus the SAE error, so everything the dictionary does not
explain passes through untouched. Submodules without chosen features are left alone: for them the
replacement is the identity. The classifier then reads the (ablated) residual stream at the probe
layer, mean-pooled over non-pad tokens.

`AblationEvaluator` serves the skyline sweep, which evaluates many feature sets on one fixed set of
texts: it tokenizes once, caches the clean residual stream after every layer below the probe, and
for a feature set whose lowest ablated layer is L it skips layers 0..L-1 (nnsight `skip` with the
cached outputs) and stops the forward right after the probe layer. `pooled_sweep` goes further for
a sequence of sets, such as the skyline's top-1, top-2, ... features: set i + 1 ablates the same
features as set i in every layer below some L, so its residual stream below L is set i's, kept from
set i's pass, and only layers L.. run again. Skipped layers are replaced by the very tensors they
would compute, so the results are identical to one full pass per set.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import torch
from tqdm.auto import tqdm

from circuits.metrics import mean_pool
from ssae.activations import skip_layers
from ssae.dictionary import Dictionary
from ssae.errors import ToolkitError
from ssae.models import LoadedModel, SubmoduleSpec

FeatureSet = dict[str, torch.Tensor]
"""Submodule name -> LongTensor of feature indices to ablate."""


def parse_feature_ids(lines: Sequence[str], saes: Mapping[str, Dictionary]) -> FeatureSet:
    """Parse `submodule/index` ids (e.g. `resid_out_layer3/117`), validating both parts."""
    chosen: dict[str, list[int]] = {}
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, idx = line.rpartition("/")
        if not sep or not idx.isdigit():
            raise ToolkitError(f"feature id {line!r} is not of the form SUBMODULE/INDEX")
        if name not in saes:
            raise ToolkitError(
                f"feature {line!r}: no SAE for submodule {name!r}; have {sorted(saes)}"
            )
        if int(idx) >= saes[name].dict_size:
            raise ToolkitError(
                f"feature {line!r} does not exist: {name} has {saes[name].dict_size} features"
            )
        chosen.setdefault(name, []).append(int(idx))
    if not chosen:
        raise ToolkitError(
            "the feature file names no features (expected lines like resid_out_layer3/117)"
        )
    return {k: torch.tensor(sorted(set(v))) for k, v in chosen.items()}


class AblationEvaluator:
    """Pooled probe-layer activations of fixed texts under any number of feature ablations."""

    def __init__(
        self,
        lm: LoadedModel,
        saes: Mapping[str, Dictionary],
        texts: Sequence[str],
        probe_spec: SubmoduleSpec,
        fill: Mapping[str, torch.Tensor] | None = None,
        batch_size: int = 64,
        max_length: int | None = 128,
        cache_prefix: bool = True,
        progress: bool = False,
    ):
        self.lm, self.saes, self.probe_spec = lm, saes, probe_spec
        self.fill = dict(fill or {})
        self.specs = [s for s in lm.submodules() if s.order <= probe_spec.order]
        self.progress = progress
        enc = lm.tokenize(list(texts), max_length=max_length)
        lengths = enc["attention_mask"].sum(1)
        # Length-sorted batches waste little on padding; `order` maps results back to input order.
        self.order = torch.argsort(lengths, descending=True, stable=True)
        self.batches = []
        for start in range(0, len(texts), batch_size):
            rows = self.order[start : start + batch_size]
            width = int(lengths[rows].max())
            self.batches.append(
                {k: v[rows, :width] for k, v in enc.items() if k in ("input_ids", "attention_mask")}
            )
        self.prefix: list[list[torch.Tensor]] | None = None
        if cache_prefix:
            self.prefix = [self._layer_outputs(b) for b in self.batches]

    @torch.no_grad()
    def _layer_outputs(self, batch) -> list[torch.Tensor]:
        """Clean residual stream after each layer below the probe layer."""
        outs: list[torch.Tensor] = []
        specs = [s for s in self.specs if s.kind == "resid_out" and s.layer < self.probe_spec.layer]
        with self.lm.nn.trace(**batch) as tracer:
            for spec in specs:
                outs.append(spec.read(self.lm.nn))
            tracer.stop()
        return outs

    def pooled(self, features: FeatureSet | None = None) -> torch.Tensor:
        """[n_texts, d] mean-pooled probe-layer activations with `features` ablated."""
        return next(self.pooled_sweep([features or {}]))

    def pooled_sweep(
        self, feature_sets: Sequence[FeatureSet], chunk: int = 32
    ) -> Iterator[torch.Tensor]:
        """`self.pooled(s) for s in feature_sets`, each pass reusing the previous set's residual
        stream below the lowest layer in which the two sets differ. Sets are run `chunk` at a
        time, so memory holds one residual stream below the probe plus `chunk` pooled results."""
        sets = [{k: v for k, v in s.items() if len(v)} for s in feature_sets]
        for s in sets:
            self._check(s)
        # Layer from which set i must be recomputed: the lowest where it differs from set i - 1
        # (from the clean model for set 0).
        restart = [self._first_difference(a, b) for a, b in zip([{}] + sets[:-1], sets)]
        n_cached = max(0, self.probe_spec.layer)
        below = [list(p) for p in self.prefix] if self.prefix is not None else None
        bar = tqdm(total=len(self.batches) * len(sets), desc="ablate", disable=not self.progress)
        for first in range(0, len(sets), chunk):
            part = range(first, min(first + chunk, len(sets)))
            out = {i: torch.empty(len(self.order), self.probe_spec.d) for i in part}
            start = 0
            for b, batch in enumerate(self.batches):
                rows = self.order[start : start + len(batch["input_ids"])]
                start += len(rows)
                for i in part:
                    n_skip = min(max(0, restart[i]), n_cached) if below is not None else 0
                    skipped = below[b][:n_skip] if below is not None else []
                    keep: list[torch.Tensor] = []
                    with torch.no_grad():
                        out[i][rows] = self._forward(batch, sets[i], skipped, keep)
                    if below is not None:
                        below[b] = skipped + keep
                    bar.update()
            yield from (out[i] for i in part)
        bar.close()

    def _first_difference(self, a: FeatureSet, b: FeatureSet) -> int:
        layers = [
            self.lm.submodule(name).layer
            for name in set(a) | set(b)
            if name not in a or name not in b or not torch.equal(a[name], b[name])
        ]
        return min(layers, default=self.probe_spec.layer)

    def _check(self, features: FeatureSet) -> None:
        unknown = set(features) - set(self.saes)
        if unknown:
            raise ToolkitError(f"no SAE for submodules {sorted(unknown)}")

    def _forward(
        self,
        batch,
        features: FeatureSet,
        skipped: list[torch.Tensor],
        keep: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Pooled probe-layer output with `features` ablated and the first len(skipped) layers'
        outputs given; `keep` collects the residual stream after each later layer below the
        probe."""
        nn, n_skip = self.lm.nn, len(skipped)
        holder: dict[str, torch.Tensor] = {}
        with nn.trace(**batch) as tracer:
            # Below the first layer run, nothing (the embedding included) reaches the output.
            layer_specs = [s for s in self.specs if not n_skip or s.layer >= n_skip]
            skip_layers(self.lm, skipped)
            for spec in layer_specs:
                x = None
                if spec.name in features:
                    x = ablate(
                        self.saes[spec.name],
                        spec.read(nn),
                        features[spec.name],
                        self.fill.get(spec.name),
                    )
                    spec.write(nn, x)
                if spec.name == self.probe_spec.name:
                    holder["x"] = spec.read(nn) if x is None else x
                elif keep is not None and spec.kind == "resid_out":
                    keep.append(spec.read(nn) if x is None else x)
            tracer.stop()
        return mean_pool(holder["x"], batch["attention_mask"])


def ablate(
    sae: Dictionary, x: torch.Tensor, idx: torch.Tensor, fill: torch.Tensor | None = None
) -> torch.Tensor:
    """decode(f with f[idx] := fill[idx] or 0) + (x - decode(f))."""
    values = 0.0 if fill is None else fill[idx].to(x)  # means are stored on the CPU
    return sae.set_features(x, idx, values)
