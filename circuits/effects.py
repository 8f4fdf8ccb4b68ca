r"""Indirect effects of SAE features and error nodes: attribution patching and integrated gradients.

Setting (Marks et al. 2024, "Sparse Feature Circuits", sec. 2). At every submodule s with a
dictionary, the output x_s is written as

    x_s = decode(f_s) + e_s,     f_s = encode(x_s) in R^n,   e_s = x_s - decode(f_s) in R^d,

and the nodes are the features f_{s,j} and the error e_s, one of each per token position. The
indirect effect of a node a on a metric m is the change in m when a alone is moved from its clean
value a_c to its patch value a_p (`circuits.states`: zero, mean, or a contrastive input):

    IE(a) = m(clean | do(a = a_p)) - m(clean).

Exact patching (`circuits.exact`) runs one forward pass per node. This module approximates all of
them at once from gradients. Let g_s(p) = dm/dx_s at a point p of activation space; every decoder
in `ssae.dictionary` is affine, decode(f) = f D_s + b_s with D_s = `decoder_directions` [n, d], so

    dm/df_{s,j} = (g_s D_s^T)_j,    dm/de_s = g_s.

Attribution patching (Marks et al. eq. 2), one forward and one backward for all nodes:

    IE_atp(f_{s,j}) = (f_p - f_c)_{s,j} * (g_s(clean) D_s^T)_j
    IE_atp(e_s)     = sum_k (e_p - e_c)_{s,k} * g_s(clean)_k

The gradient is taken with every submodule output rewritten as

    x_s' = z_s + (x_s - stopgrad(x_s)),   z_s = stopgrad(decode(f_s) + e_s)  (an autograd leaf),

which leaves the value unchanged, gives dm/dz_s = g_s for the leaf (hence the feature and error
gradients above: the error is a leaf, i.e. gets the paper's stop-gradient, and is not
differentiated through the encoder), and passes the straight-through gradient to upstream
submodules so that their g is the true total derivative at the clean point. This is the
construction of Marks et al.'s code (`_pe_attrib`).

Integrated gradients (Marks et al. eq. 3), N steps (default 10) with alpha_k = k / N for
k = 0..N-1 (the left Riemann sum of their code, so N = 1 is attribution patching):

    IE_ig(f_{s,j}) = (f_p - f_c)_{s,j} * ((1/N) sum_k g_s(p_k) D_s^T)_j
    IE_ig(e_s)     = sum_l (e_p - e_c)_{s,l} * (1/N) sum_k g_s(p_k)_l

where p_k is the point at which the gradient is evaluated, fixed by `ig_mode`:

- `per_submodule` (default; Marks et al.'s `_pe_ig`): p_k = the clean run with submodule s
  alone set to
  x_s(alpha_k) = decode(f_c + alpha_k (f_p - f_c)) + e_c + alpha_k (e_p - e_c)
             = x_c + alpha_k (x_p - x_c)                    (decode is affine),
  all other submodules computed normally from it. Each submodule then has its own integral, and by
  the completeness of IG, sum over all nodes of s of IE_ig -> m(do(x_s = x_p)) - m(clean) as
  N -> infinity. Cost: N forward/backward passes per submodule, of which only the part
  from s on is run: alpha_0 = 0 is the clean point of every submodule, so one straight-through
  pass (as in attribution patching) gives g_s(p_0) for all s at once and records the clean
  output of every module; the passes for alpha_1..alpha_{N-1} of submodule s reuse the recorded
  outputs of the modules before s (`circuits.runner`, clean-prefix reuse) and run only the
  layers from s to the metric. The values are those of N full passes per submodule.
- `joint` (one set of passes for all submodules): p_k = every IG submodule set to its
  own x_s(alpha_k) at once, with the straight-through rewrite above at each of them, so that
  g_s(p_k) is the chain of downstream Jacobians each evaluated on its interpolated input. For the
  last submodule before the metric this is the same integral as `per_submodule`; for earlier
  ones it integrates along the path on which the whole network moves from clean to patch
  together; the sums per submodule do not converge to that submodule's patching effect.
  Cost: N forward/backward passes in all, about the cost of N passes of the bare model.
  On the micro world (tests/circuits/test_micro_world.py) it ranks single nodes less like exact
  patching than `per_submodule` does, so it is the fast option, not the default.

A submodule may use `attrib` while others use `ig` (`method` may be a dict name -> method); its
gradient is the clean one (alpha = 0), which both modes compute in their first pass.

Aggregation (Marks et al. sec. 3): `sum` adds the per-token effects of a node over the real
(non-pad) positions of an example and averages over examples (non-templatic data); `none` keeps
one node per position and averages over examples at each position (templatic data, all inputs of
the same length).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from circuits.config import EffectConfig
from circuits.metrics import Metric
from circuits.runner import (
    Recorder,
    batch_size,
    frozen,
    reachable_specs,
    run_metric,
    tile_batch,
    tile_output,
)
from circuits.states import State, encode_states, patch_states
from ssae.dictionary import Dictionary
from ssae.errors import DataError, ToolkitError
from ssae.models import LoadedModel, SubmoduleSpec


@dataclass
class NodeEffects:
    """Aggregated indirect effect of every node of every submodule."""

    features: dict[str, torch.Tensor]
    """Submodule -> effects [n] (`sum`) or [pos, n] (`none`)."""
    errors: dict[str, torch.Tensor]
    """Submodule -> error effect [] (`sum`) or [pos] (`none`)."""
    aggregation: str
    n_examples: int
    metric_clean: float = float("nan")
    """Mean metric on the clean inputs."""
    metric_patch: float = float("nan")
    """Mean metric on the patch inputs (`patch` baseline only)."""

    @property
    def names(self) -> list[str]:
        return list(self.features)

    def nodes(self) -> Iterable[tuple[str, int | str, int | None, float]]:
        """(submodule, feature index or "error", position or None, effect) for every node."""
        for name, eff in self.features.items():
            err = self.errors[name]
            if self.aggregation == "sum":
                for j, v in enumerate(eff.tolist()):
                    yield name, j, None, v
                yield name, "error", None, float(err)
            else:
                for p in range(eff.shape[0]):
                    for j, v in enumerate(eff[p].tolist()):
                        yield name, j, p, v
                    yield name, "error", p, float(err[p])


@dataclass
class BatchGrads:
    """Per-token quantities of one batch that edges reuse."""

    grads: dict[str, torch.Tensor]
    """Submodule -> dm/dx averaged over the integration points [b, pos, d]."""


def decoder_matrix(sae: Dictionary) -> torch.Tensor:
    """D [n, d] with decode(f) = f D + decode(0); checks that the decoder is affine."""
    D = sae.decoder_directions.detach()
    with torch.no_grad():
        f = torch.rand(2, D.shape[0], device=D.device, dtype=D.dtype)
        lhs = sae.decode(f) - sae.decode(torch.zeros_like(f))
        if not torch.allclose(lhs, f @ D, rtol=1e-3, atol=1e-3 * float(lhs.abs().max() + 1)):
            raise ToolkitError(
                f"{type(sae).__name__}.decode is not affine in its features (decode(f) != f D + b): "
                "circuits need an affine decoder"
            )
    return D


def token_effects(
    sae: Dictionary, D: torch.Tensor, clean: State, patch: State, grad: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token effects: features [b, pos, n] and error [b, pos] (module docstring).

    Since e = x - decode(f) and decode is affine, (e_p - e_c) . g = (x_p - x_c) . g minus the
    sum of the feature effects: the error never has to be decoded.
    """
    feat = (patch.f - clean.f) * (grad @ D.T)
    total = ((patch.output(sae) - clean.output(sae)) * grad).sum(-1)
    return feat, total - feat.sum(-1)


def _alphas(steps: int) -> list[float]:
    return [k / steps for k in range(steps)]


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _steps_per_pass(cfg: EffectConfig, batch: dict) -> int:
    tokens = batch["input_ids"].numel()
    return max(1, min(cfg.steps, cfg.max_tokens_per_pass // max(tokens, 1)))


def _grad_pass(
    lm: LoadedModel,
    batch: dict,
    metric: Metric,
    alphas: list[float],
    interp: dict[str, tuple[torch.Tensor, torch.Tensor]],
    watch: list[str],
    straight_through: bool,
    known: dict | None = None,
    record: Recorder | None = None,
) -> dict[str, torch.Tensor]:
    """One forward/backward with len(alphas) stacked copies of the batch.

    Submodules in `interp` (name -> (x_c, dx)) are set to x_c + alpha dx in the copy of each
    alpha; submodules in `watch` only get a leaf. `known` and `record` are passed to
    `run_metric` (clean-prefix reuse). Returns dm/d(output) per name as [len(alphas), b, pos, d].
    """
    k, b = len(alphas), batch_size(batch)
    tiled = tile_batch(batch, k)
    leaves: dict[str, torch.Tensor] = {}

    def edit_for(name: str):
        def edit(x: torch.Tensor) -> torch.Tensor:
            if name in interp:
                xc, dx = interp[name]
                a = torch.tensor(alphas, device=x.device, dtype=x.dtype).repeat_interleave(b)
                value = xc.repeat(k, 1, 1) + a[:, None, None] * dx.repeat(k, 1, 1)
            else:
                value = x.detach()
            z = value.detach().requires_grad_(True)
            leaves[name] = z
            if straight_through and x.requires_grad:
                return z + (x - x.detach())
            return z

        return edit

    edits = {name: edit_for(name) for name in [*interp, *watch]}
    with torch.enable_grad():
        m = run_metric(lm, tiled, metric, edits, known=known, record=record)
        names = [n for n in edits if n in leaves]
        grads = torch.autograd.grad(m.sum(), [leaves[n] for n in names], allow_unused=True)
    out = {}
    for name, g in zip(names, grads, strict=True):
        z = leaves[name]
        g = torch.zeros_like(z) if g is None else g
        out[name] = g.reshape(k, b, *g.shape[1:])
    return out


def output_gradients(
    lm: LoadedModel,
    saes: dict[str, Dictionary],
    specs: list[SubmoduleSpec],
    batch: dict,
    clean: dict[str, State],
    patch: dict[str, State],
    metric: Metric,
    cfg: EffectConfig,
) -> dict[str, torch.Tensor]:
    """Average dm/dx_s over the integration points of each submodule [b, pos, d]."""
    ig = [s.name for s in specs if cfg.method_of(s.name) == "ig"]
    attrib = [s.name for s in specs if cfg.method_of(s.name) == "attrib"]
    interp = {}
    for name in ig:
        xc = clean[name].output(saes[name])
        interp[name] = (xc, (patch[name].output(saes[name]) - xc).expand_as(xc))
    per_pass = _steps_per_pass(cfg, batch)
    alphas = _alphas(cfg.steps)
    sums: dict[str, torch.Tensor] = {}

    def add(name: str, g: torch.Tensor) -> None:
        sums[name] = g if name not in sums else sums[name] + g

    if cfg.ig_mode == "joint":
        for i, chunk in enumerate(_chunks(alphas, per_pass)):
            # attribution-patched submodules need only the clean gradient: the first copy (alpha 0)
            watch = attrib if i == 0 else []
            grads = _grad_pass(lm, batch, metric, chunk, interp, watch, straight_through=True)
            for name in ig:
                add(name, grads[name].sum(0))
            for name in watch:
                add(name, grads[name][0])
    else:
        # alpha_0 = 0 leaves every submodule clean: one straight-through pass gives the clean
        # gradient of all of them, and records the clean outputs the later passes start from
        order = {s.name: s.order for s in lm.submodules()}
        last = max((order[n] for n in ig), default=None)
        record = Recorder(n for n, o in order.items() if last is not None and o <= last)
        clean_pass = [*ig, *attrib]
        grads = _grad_pass(lm, batch, metric, [0.0], {}, clean_pass, True, record=record)
        for name in clean_pass:
            add(name, grads[name][0])
        for name in ig:
            # every module up to s computes its clean output whatever alpha is: hand it over
            prefix = {n: v for n, v in record.outputs.items() if order[n] <= order[name]}
            for chunk in _chunks(alphas[1:], per_pass):
                known = {n: lambda v=v, k=len(chunk): tile_output(v, k) for n, v in prefix.items()}
                grads = _grad_pass(
                    lm, batch, metric, chunk, {name: interp[name]}, [], False, known=known
                )
                add(name, grads[name].sum(0))
    return {name: sums[name] / (cfg.steps if name in interp else 1) for name in [*ig, *attrib]}


class _Accumulator:
    """Sums of per-token effects, aggregated as the config says."""

    def __init__(self, aggregation: str):
        self.aggregation = aggregation
        self.features: dict[str, torch.Tensor] = {}
        self.errors: dict[str, torch.Tensor] = {}
        self.n = 0
        self.width: int | None = None

    def add(
        self,
        name: str,
        sae: Dictionary,
        D: torch.Tensor,
        clean: State,
        patch: State,
        grad: torch.Tensor,
        mask: torch.Tensor,
    ) -> None:
        """Add the effects of one batch (module docstring), summed over its examples."""
        mask = mask.to(grad.dtype)
        if self.aggregation == "sum":
            # sum_{b,t} df_j (g . D_j) = rowdot(df^T g, D): one [n, d] product, no [b, t, n] temporaries
            n, d = D.shape
            df = ((patch.f - clean.f) * mask[..., None]).reshape(-1, n)
            f = ((df.T @ grad.reshape(-1, d)) * D).sum(-1)
            # the error effect as in `token_effects`: (x_p - x_c) . g minus the feature effects
            total = (((patch.output(sae) - clean.output(sae)) * grad).sum(-1) * mask).sum()
            e = total - f.sum()
        else:
            feat, err = token_effects(sae, D, clean, patch, grad)
            if self.width is not None and feat.shape[1] != self.width:
                raise DataError(
                    "aggregation 'none' (one node per position) needs inputs of one length "
                    f"(templatic data); got lengths {self.width} and {feat.shape[1]}"
                )
            self.width = feat.shape[1]
            f = (feat * mask[..., None]).sum(0)
            e = (err * mask).sum(0)
        f, e = f.detach().double().cpu(), e.detach().double().cpu()
        self.features[name] = f if name not in self.features else self.features[name] + f
        self.errors[name] = e if name not in self.errors else self.errors[name] + e

    def result(self, **extra) -> NodeEffects:
        n = max(self.n, 1)
        return NodeEffects(
            {k: v / n for k, v in self.features.items()},
            {k: v / n for k, v in self.errors.items()},
            self.aggregation,
            self.n,
            **extra,
        )


def node_effects(
    lm: LoadedModel,
    saes: dict[str, Dictionary],
    batches: Iterable[dict],
    metric: Metric,
    cfg: EffectConfig | None = None,
    keep_grads: bool = False,
    progress: bool = True,
) -> tuple[NodeEffects, list[BatchGrads] | None]:
    """Node effects of every feature and error of `saes` on `metric`, aggregated over batches.

    Submodules after the activation the metric reads cannot affect it and are left out. With
    `keep_grads` the averaged output gradients of each batch are returned for edge computation.
    """
    cfg = cfg or EffectConfig()
    specs = reachable_specs(lm, list(saes), metric)
    if not specs:
        raise ToolkitError(f"no submodule of the SAE set comes before what {metric.name} reads")
    Ds = {s.name: decoder_matrix(saes[s.name]) for s in specs}
    acc = _Accumulator(cfg.aggregation)
    kept: list[BatchGrads] | None = [] if keep_grads else None
    m_clean, m_patch, n_patch = 0.0, 0.0, 0
    batches = list(batches)
    with frozen(lm.model, *saes.values()):
        for batch in tqdm(batches, desc="node effects", disable=not progress, leave=False):
            # errors are not needed: their effects follow from x and f (`token_effects`)
            clean, mc = encode_states(lm, saes, specs, batch, metric, errors=False)
            patch, mp = patch_states(
                lm, saes, specs, batch, cfg.baseline, clean, metric, errors=False
            )
            grads = output_gradients(lm, saes, specs, batch, clean, patch, metric, cfg)
            mask = batch["attention_mask"].to(lm.device)
            with torch.no_grad():
                for s in specs:
                    acc.add(
                        s.name,
                        saes[s.name],
                        Ds[s.name],
                        clean[s.name],
                        patch[s.name],
                        grads[s.name],
                        mask,
                    )
            acc.n += batch_size(batch)
            m_clean += float(mc.sum())
            if mp is not None:
                m_patch += float(mp.sum())
                n_patch += batch_size(batch)
            if kept is not None:
                kept.append(BatchGrads({k: v.detach() for k, v in grads.items()}))
    effects = acc.result(
        metric_clean=m_clean / max(acc.n, 1),
        metric_patch=m_patch / n_patch if n_patch else float("nan"),
    )
    return effects, kept
