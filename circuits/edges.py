r"""Edges between nodes of the circuit by the linear approximation of Marks et al. (2024, eq. 5).

For an upstream node u (feature or error of submodule s_u) and a downstream node d of a later
submodule s_d, the edge weight is the effect of u on m that flows *directly* through d:

    IE(u -> d) = (dm/dd) (dd/du) (u_p - u_c),

with dm/dd the (integrated) gradient already used for d's node effect (`circuits.effects`:
(g D^T)_j for a feature, g for the error) and dd/du the Jacobian at the clean input of the direct
path from u to d, i.e. the path that passes through no node of an intermediate submodule (for
GPTNeoX: embed/resid_{i-1} -> attn_i, mlp_i, resid_i; attn_i, mlp_i -> resid_i; in the
parallel-residual block attn_i does not feed mlp_i).

Computation, one forward pass per batch and one vector-Jacobian product per downstream node:
every submodule output is replaced by an autograd leaf z_s with the same value (so the only paths
from u to d are the direct ones), and at each downstream submodule the features and error are
recomputed differentiably from its *input* x_s: f_s = encode(x_s), e_s = x_s - decode(f_s). For
a downstream node the scalar

    S_d = sum over positions and examples of stopgrad(dm/dd) * d

is backpropagated to the leaves of the earlier submodules (dS_d/dz_u = dm/dd dd/dx_u), the
gradient is mapped to features with the decoder, dS/df_{u,j} = (dS/dz_u D_u^T)_j, and multiplied
by u_p - u_c. Aggregation follows the nodes: `sum` adds over the positions of u and of d and
averages over examples; `none` keeps positions (d at position t, u at position t' <= t).

Only nodes whose aggregated |effect| exceeds the node threshold are sources or targets of edges.
Edges into the metric node: for the last submodule of the set (its only child is the metric) the
weight is the node's own effect, as in Marks et al.; for earlier submodules it is the direct
gradient of m times u_p - u_c (non-zero only where the metric reads past no later submodule).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from tqdm.auto import tqdm

from circuits.effects import BatchGrads, EffectConfig, NodeEffects, decoder_matrix, output_gradients
from circuits.metrics import Metric
from circuits.runner import batch_size, frozen, reachable_specs, run_metric
from circuits.states import State, encode_states, patch_states
from ssae.dictionary import Dictionary
from ssae.errors import ConfigError
from ssae.models import LoadedModel

METRIC = "metric"


def node_id(submodule: str, feature: int | str, position: int | None = None) -> str:
    """Graph id of a node: `resid_out_layer3/123`, `resid_out_layer3/error`, `.../123@5`."""
    base = f"{submodule}/{feature}"
    return base if position is None else f"{base}@{position}"


class Selection:
    """The nodes of one submodule above the node threshold."""

    def __init__(self, effects: NodeEffects, name: str, threshold: float):
        feats = effects.features[name]
        errs = effects.errors[name]
        if effects.aggregation == "sum":
            self.features = (feats.abs() > threshold).nonzero().flatten().tolist()
            self.error = bool(errs.abs() > threshold)
            self.pos_features: list[tuple[int, int]] = []
            self.pos_errors: list[int] = []
        else:
            self.features, self.error = [], False
            self.pos_features = [tuple(x) for x in (feats.abs() > threshold).nonzero().tolist()]
            self.pos_errors = (errs.abs() > threshold).nonzero().flatten().tolist()
        self.name = name

    def __bool__(self) -> bool:
        return bool(self.features or self.error or self.pos_features or self.pos_errors)

    def ids(self) -> list[str]:
        out = [node_id(self.name, j) for j in self.features]
        out += [node_id(self.name, "error")] if self.error else []
        out += [node_id(self.name, j, p) for p, j in self.pos_features]
        out += [node_id(self.name, "error", p) for p in self.pos_errors]
        return out


def _scores(
    sel: Selection,
    f: torch.Tensor,
    err: torch.Tensor,
    grad: torch.Tensor,
    D: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """S_d for every selected node of a downstream submodule, in `sel.ids()` order."""
    mask = mask.to(f.dtype)
    out = []
    if sel.features:
        idx = torch.tensor(sel.features, device=f.device)
        gf = grad @ D[idx].T  # dm/df for the selected features only
        out.append((gf * f[..., idx] * mask[..., None]).sum((0, 1)))
    if sel.error:
        out.append(((grad * err).sum(-1) * mask).sum()[None])
    if sel.pos_features:
        p = torch.tensor([x[0] for x in sel.pos_features], device=f.device)
        j = torch.tensor([x[1] for x in sel.pos_features], device=f.device)
        gf = (grad[:, p] * D[j][None]).sum(-1)  # [b, k]: dm/df_{j} at position p
        out.append((gf * f[:, p, j] * mask[:, p]).sum(0))
    if sel.pos_errors:
        p = torch.tensor(sel.pos_errors, device=f.device)
        out.append(((grad[:, p] * err[:, p]).sum(-1) * mask[:, p]).sum(0))
    return torch.cat(out)


def _contributions(
    sel: Selection,
    gz: torch.Tensor,
    clean: State,
    patch: State,
    D: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """(dS/du)(u_p - u_c) for every selected node of an upstream submodule, in `sel.ids()` order.

    `gz` is dS/dz_u, stacked over the downstream nodes: [k, b, pos, d].
    """
    mask = mask.to(gz.dtype)
    out = []
    if sel.features:
        idx = torch.tensor(sel.features, device=gz.device)
        df = (patch.f[..., idx] - clean.f[..., idx]).expand(*gz.shape[1:3], len(idx))
        out.append(torch.einsum("kbtd,jd,btj,bt->kj", gz, D[idx], df, mask))
    if sel.error:
        de = (patch.err - clean.err).expand(gz.shape[1:])
        out.append(torch.einsum("kbtd,btd,bt->k", gz, de, mask)[:, None])
    if sel.pos_features:
        p = torch.tensor([x[0] for x in sel.pos_features], device=gz.device)
        j = torch.tensor([x[1] for x in sel.pos_features], device=gz.device)
        df = (patch.f - clean.f).expand(*gz.shape[1:3], clean.f.shape[-1])[:, p, j]  # [b, k']
        g = (gz[:, :, p] * D[j][None, None]).sum(-1)  # [k, b, k']
        out.append((g * df[None] * mask[None, :, p]).sum(1))
    if sel.pos_errors:
        p = torch.tensor(sel.pos_errors, device=gz.device)
        de = (patch.err - clean.err).expand(gz.shape[1:])[:, p]
        out.append(((gz[:, :, p] * de[None]).sum(-1) * mask[None, :, p]).sum(1))
    return torch.cat(out, dim=1)


def _vjps(
    scores: torch.Tensor, leaves: list[torch.Tensor], chunk: int
) -> list[torch.Tensor | None]:
    """Gradients of each score w.r.t. each leaf, stacked over scores: [k, *leaf.shape]."""
    parts: list[list[torch.Tensor | None]] = []
    for start in range(0, scores.shape[0], chunk):
        k = min(chunk, scores.shape[0] - start)
        eye = torch.zeros(k, scores.shape[0], dtype=scores.dtype, device=scores.device)
        eye[torch.arange(k), start + torch.arange(k)] = 1.0
        try:
            grads = torch.autograd.grad(
                scores,
                leaves,
                grad_outputs=eye,
                is_grads_batched=True,
                retain_graph=True,
                allow_unused=True,
            )
        except RuntimeError:  # an op without a batching rule: one backward per score
            rows = [
                torch.autograd.grad(scores[start + i], leaves, retain_graph=True, allow_unused=True)
                for i in range(k)
            ]
            grads = tuple(
                None if rows[0][li] is None else torch.stack([r[li] for r in rows])
                for li in range(len(leaves))
            )
        parts.append(list(grads))
    return [
        None if parts[0][li] is None else torch.cat([p[li] for p in parts])
        for li in range(len(leaves))
    ]


def edge_effects(
    lm: LoadedModel,
    saes: dict[str, Dictionary],
    batches: Iterable[dict],
    metric: Metric,
    effects: NodeEffects,
    cfg: EffectConfig,
    node_threshold: float,
    batch_grads: list[BatchGrads] | None = None,
    vjp_chunk: int = 16,
    progress: bool = True,
) -> dict[tuple[str, str], float]:
    """Weights of the edges between nodes above `node_threshold`, keyed (upstream id, downstream id).

    `batch_grads` are the averaged output gradients `node_effects(..., keep_grads=True)` returned
    for the same batches; without them they are recomputed.
    """
    specs = reachable_specs(lm, list(saes), metric)
    names = [s.name for s in specs]
    sels = {n: Selection(effects, n, node_threshold) for n in names}
    Ds = {n: decoder_matrix(saes[n]) for n in names}
    ids = {n: sels[n].ids() for n in names}
    sums: dict[tuple[str, str], float] = {}
    n_examples = 0
    batches = list(batches)
    if batch_grads is not None and len(batch_grads) != len(batches):
        raise ConfigError("batch_grads must come from the same batches")

    def add(key: tuple[str, str], value: float) -> None:
        sums[key] = sums.get(key, 0.0) + value

    with frozen(lm.model, *saes.values()):
        for bi, batch in enumerate(tqdm(batches, desc="edges", disable=not progress, leave=False)):
            clean, _ = encode_states(lm, saes, specs, batch)
            patch, _ = patch_states(lm, saes, specs, batch, cfg.baseline, clean)
            if batch_grads is not None:
                grads = batch_grads[bi].grads
            else:
                grads = output_gradients(lm, saes, specs, batch, clean, patch, metric, cfg)
            mask = batch["attention_mask"].to(lm.device)
            leaves: dict[str, torch.Tensor] = {}
            scores: dict[str, torch.Tensor] = {}

            def edit_for(name: str, scores=scores, leaves=leaves, grads=grads, mask=mask):
                def edit(x: torch.Tensor) -> torch.Tensor:
                    if sels[name] and x.requires_grad:
                        f, err = saes[name].features_and_error(x)
                        scores[name] = _scores(sels[name], f, err, grads[name], Ds[name], mask)
                    z = x.detach().requires_grad_(True)
                    leaves[name] = z
                    return z

                return edit

            with torch.enable_grad():
                m = run_metric(lm, batch, metric, {n: edit_for(n) for n in names})
                for di, down in enumerate(names):
                    if down not in scores:
                        continue
                    ups = [u for u in names[:di] if sels[u]]
                    if not ups:
                        continue
                    gzs = _vjps(scores[down], [leaves[u] for u in ups], vjp_chunk)
                    for up, gz in zip(ups, gzs, strict=True):
                        if gz is None:
                            continue
                        w = _contributions(sels[up], gz, clean[up], patch[up], Ds[up], mask)
                        for k, d_id in enumerate(ids[down]):
                            for j, u_id in enumerate(ids[up]):
                                add((u_id, d_id), float(w[k, j]))
                # edges into the metric from submodules before the last: direct gradient
                ups = [u for u in names[:-1] if sels[u]]
                if ups:
                    gzs = torch.autograd.grad(m.sum(), [leaves[u] for u in ups], allow_unused=True)
                    for up, gz in zip(ups, gzs, strict=True):
                        if gz is None or not bool(gz.any()):
                            continue
                        w = _contributions(sels[up], gz[None], clean[up], patch[up], Ds[up], mask)
                        for j, u_id in enumerate(ids[up]):
                            add((u_id, METRIC), float(w[0, j]))
            n_examples += batch_size(batch)

    edges = {key: value / max(n_examples, 1) for key, value in sums.items()}
    # the last submodule's only child is the metric: its edge is its node effect (Marks et al.)
    last = names[-1]
    for u_id in ids[last]:
        edges[(u_id, METRIC)] = _effect_of(effects, u_id)
    return edges


def _effect_of(effects: NodeEffects, nid: str) -> float:
    name, rest = nid.split("/", 1)
    feat, _, pos = rest.partition("@")
    idx = () if not pos else (int(pos),)
    if feat == "error":
        return float(effects.errors[name][idx])
    return float(effects.features[name][(*idx, int(feat))])
