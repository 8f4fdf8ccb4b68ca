"""SAEBench-style automatic feature selection (Karvonen et al. 2025, the SCR metric): no circuit.

For feature j of the dictionary at submodule s, with decoder direction d_j, over a set of texts
labelled with gender g(x) in {0 male, 1 female}:

    a_j(x)  = (1/T_x) sum_t f_j(x)_t                          (mean over the real tokens of x)
    delta_j = mean_{x: g=1} a_j(x) - mean_{x: g=0} a_j(x)
    score_j = | delta_j * (w . d_j) |

where w is the weight of a linear probe for gender trained on the pooled activations of the probe
submodule (SAEBench selects with the probe of the attribute it removes). A feature scores high when
it fires differently for women and men and writes along the direction that reads gender. Features
of every submodule are ranked together; the top-N are ablated, N chosen like the skyline's k.
Unlike the skyline, nothing is propagated through the model: w . d_j is the feature's direct write
onto the probe's direction, a good proxy only for submodules close to the probe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from ssae.activations import read_activations
from ssae.dictionary import Dictionary
from ssae.errors import DataError
from ssae.models import LoadedModel


@torch.no_grad()
def mean_difference(
    lm: LoadedModel, saes: Mapping[str, Dictionary], batches: Iterable[dict]
) -> dict[str, torch.Tensor]:
    """delta_j per submodule [n_features]: women's minus men's mean of the pooled features.

    Each batch holds `input_ids`, `attention_mask` and `labels` (the gender, 0 or 1)."""
    specs = [lm.submodule(name) for name in saes]
    sums: dict[int, dict[str, torch.Tensor]] = {0: {}, 1: {}}
    counts = {0: 0, 1: 0}
    for batch in batches:
        acts = read_activations(lm, specs, batch)
        mask = batch["attention_mask"].to(lm.device, torch.float64)
        labels = batch["labels"].to(lm.device)
        weights = mask / mask.sum(1, keepdim=True).clamp_min(1)  # 1/T on real tokens, 0 on pads
        for name, x in acts.items():
            pooled = torch.einsum("bt,btn->bn", weights.to(x.dtype), saes[name].encode(x))
            for g in (0, 1):
                rows = pooled[labels == g].double().sum(0).cpu()
                sums[g][name] = rows if name not in sums[g] else sums[g][name] + rows
        for g in (0, 1):
            counts[g] += int((labels == g).sum())
    if not counts[0] or not counts[1]:
        raise DataError("SAEBench selection needs texts of both genders")
    return {name: sums[1][name] / counts[1] - sums[0][name] / counts[0] for name in sums[0]}


def scores(
    delta: Mapping[str, torch.Tensor], saes: Mapping[str, Dictionary], weight: torch.Tensor
) -> dict[str, torch.Tensor]:
    """score_j = |delta_j (w . d_j)| per submodule [n_features] (module docstring)."""
    out = {}
    for name, d in delta.items():
        directions = saes[name].decoder_directions.detach().double().cpu()
        out[name] = (d * (directions @ weight.double().cpu())).abs()
    return out
