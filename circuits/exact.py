"""Exact activation patching: the ground truth that attribution patching and IG approximate.

For each requested node a, one forward pass computes

    IE(a) = m(clean | do(a = a_p)) - m(clean)

literally: at the node's submodule s the output becomes decode(f') + e_c, where f' is the clean
features with feature j replaced by its patch value (a feature node), or decode(f_c) + e_p (the
error node); nothing else is changed and everything downstream is recomputed. With aggregation
`sum` a node is patched at every real position of the example at once (the quantity whose
first-order expansion is the position sum of the per-token attribution effects); with `none` it
is patched at its one position. Effects are averaged over examples.

Several nodes are patched in one pass by stacking copies of the batch, one copy per node. The cost
is still one forward per node and batch, so this is for small cases (tests, spot checks).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from tqdm.auto import tqdm

from circuits.config import EffectConfig
from circuits.effects import NodeEffects
from circuits.metrics import Metric
from circuits.runner import batch_size, frozen, reachable_specs, run_metric, tile_batch
from circuits.states import State, encode_states, patch_states
from ssae.dictionary import Dictionary
from ssae.errors import DataError
from ssae.models import LoadedModel

Node = tuple  # (submodule, feature index or "error") or (submodule, feature or "error", position)


def all_nodes(
    saes: dict[str, Dictionary], names: list[str], width: int | None = None
) -> list[Node]:
    """Every node of `names`; with `width` (positions) one node per position."""
    out: list[Node] = []
    for name in names:
        feats: list = [*range(saes[name].dict_size), "error"]
        if width is None:
            out += [(name, j) for j in feats]
        else:
            out += [(name, j, p) for p in range(width) for j in feats]
    return out


def _patched_output(
    sae: Dictionary, clean: State, patch: State, node: Node, mask: torch.Tensor
) -> torch.Tensor:
    """Submodule output with only `node` moved to its patch value, at the masked positions."""
    where = mask.bool().clone()
    if len(node) == 3:
        keep = torch.zeros_like(where)
        keep[:, node[2]] = where[:, node[2]]
        where = keep
    f, err = clean.f, clean.err
    if node[1] == "error":
        err = torch.where(where[..., None], patch.err.expand_as(err), err)
    else:
        j = node[1]
        f = f.clone()
        f[..., j] = torch.where(where, patch.f[..., j].expand_as(f[..., j]), f[..., j])
    return sae.decode(f) + err


def exact_effects(
    lm: LoadedModel,
    saes: dict[str, Dictionary],
    batches: Iterable[dict],
    metric: Metric,
    config: EffectConfig = EffectConfig(),
    nodes: list[Node] | None = None,
    max_copies: int = 32,
    progress: bool = True,
) -> NodeEffects:
    """Effects of `nodes` (default: every node) by patching each one and rerunning the model,
    towards `config.baseline` and aggregated as `config.aggregation` (the estimator settings of
    `config` are not used: this is the ground truth they approximate).

    Nodes not requested are NaN in the result.
    """
    baseline, aggregation = config.baseline, config.aggregation
    specs = reachable_specs(lm, list(saes), metric)
    names = [s.name for s in specs]
    batches = list(batches)
    width = None
    if aggregation == "none":
        widths = {b["input_ids"].shape[1] for b in batches}
        if len(widths) != 1:
            raise DataError("aggregation 'none' needs inputs of one length (templatic data)")
        (width,) = widths
    nodes = nodes if nodes is not None else all_nodes(saes, names, width)
    for node in nodes:
        if node[0] not in names:
            raise DataError(f"node {node} is not in a submodule that can affect {metric.name}")
        if (len(node) == 3) != (aggregation == "none"):
            raise DataError("nodes carry a position exactly when aggregation is 'none'")

    sums = torch.zeros(len(nodes), dtype=torch.float64)
    n_examples, m_clean_sum = 0, 0.0
    with frozen(lm.model, *saes.values()), torch.no_grad():
        for batch in tqdm(batches, desc="exact patching", disable=not progress, leave=False):
            b = batch_size(batch)
            clean, m_clean = encode_states(lm, saes, specs, batch, metric)
            patch, _ = patch_states(lm, saes, specs, batch, baseline, clean, metric)
            mask = batch["attention_mask"].to(lm.device)
            for start in range(0, len(nodes), max_copies):
                chunk = nodes[start : start + max_copies]
                tiled = tile_batch(batch, len(chunk))

                def edit_for(name: str, chunk=chunk, b=b, clean=clean, patch=patch, mask=mask):
                    def edit(x: torch.Tensor) -> torch.Tensor:
                        x = x.clone()
                        for i, node in enumerate(chunk):
                            if node[0] == name:
                                rows = slice(i * b, (i + 1) * b)
                                x[rows] = _patched_output(
                                    saes[name], clean[name], patch[name], node, mask
                                )
                        return x

                    return edit

                edits = {name: edit_for(name) for name in {n[0] for n in chunk}}
                m = run_metric(lm, tiled, metric, edits).reshape(len(chunk), b)
                sums[start : start + len(chunk)] += (m - m_clean[None]).sum(1).double().cpu()
            n_examples += b
            m_clean_sum += float(m_clean.sum())

    effects = sums / max(n_examples, 1)
    features, errors = {}, {}
    for name in names:
        n = saes[name].dict_size
        shape = (n,) if width is None else (width, n)
        features[name] = torch.full(shape, float("nan"), dtype=torch.float64)
        errors[name] = torch.full(
            () if width is None else (width,), float("nan"), dtype=torch.float64
        )
    for node, value in zip(nodes, effects.tolist(), strict=True):
        name, j = node[0], node[1]
        idx = () if width is None else (node[2],)
        if j == "error":
            errors[name][idx] = value
        else:
            features[name][(*idx, j)] = value
    return NodeEffects(
        features, errors, aggregation, n_examples, metric_clean=m_clean_sum / max(n_examples, 1)
    )
