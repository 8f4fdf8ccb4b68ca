"""Evaluation of an SAE set on a token dataset: sparsity, reconstruction, and spliced loss.

Over the real (non-pad) tokens x_1..x_N of the dataset, per submodule:

- L0 = mean_i |{j : f_ij > 0}|, the number of active features per token;
- FVU = sum_i ||x_i - x_hat_i||^2 / sum_i ||x_i - mean(x)||^2, the fraction of variance
  unexplained (1 - R^2), with mean(x) over all evaluated tokens;
- dead / alive features: features that never / at least once activate on the dataset;
- spliced cross-entropy: next-token CE of the model with this submodule's output replaced by
  x_hat (every other submodule clean), next to the clean CE and the zero-ablation CE (output
  replaced by 0); `ce_loss_recovered` = (CE_zero - CE_spliced) / (CE_zero - CE_clean) and the
  perplexities exp(CE).

- linearly predictable error (Engels et al. 2024, "Decomposing the dark matter of sparse
  autoencoders", arXiv 2410.14670): the SAE error e = x - x_hat is regressed on [x, 1] by least
  squares on every other token (the fit set) and scored on the rest: `error_linear_share` =
  1 - sum ||e - e_lin||^2 / sum ||e - mean(e)||^2 is the share of the error's variance a linear
  map of the input predicts; `nonlinear_error_fvu` = sum ||e - e_lin||^2 / sum ||x - mean(x)||^2,
  the part of the input's variance that neither the SAE nor a linear map of x recovers.

CE averages over positions p whose token p and target token p+1 are both real, so padding never
counts. Sums are accumulated in float64.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from ssae.activations import (
    next_token_loss,
    read_activations,
    read_activations_and_logits,
    resid_prefix,
    resid_stream_specs,
    run_with_edits,
)
from ssae.errors import DataError
from ssae.io import write_json
from ssae.models import LoadedModel
from ssae.sae_set import SAESet
from ssae.tokens import TokenDataset


@torch.no_grad()
def evaluate_saes(
    lm: LoadedModel,
    saes: SAESet,
    tokens: TokenDataset,
    batch_docs: int = 16,
    max_tokens: int | None = None,
    spliced: bool = True,
    out: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict:
    """Metrics of every SAE of the set on `tokens` (see module docstring); JSON-ready dict.

    `max_tokens` stops after the first documents holding that many real tokens; `spliced=False`
    skips the 1 + 2 x n_saes forward passes per batch of the CE metrics. With `out`, the result is
    also written there as JSON (atomically).
    """
    result = evaluate_sae_sets(
        lm, {"saes": saes}, tokens, batch_docs, max_tokens, spliced, progress
    )["saes"]
    if out is not None:
        write_json(out, result)
    return result


@torch.no_grad()
def evaluate_sae_sets(
    lm: LoadedModel,
    sets: dict[str, SAESet],
    tokens: TokenDataset,
    batch_docs: int = 16,
    max_tokens: int | None = None,
    spliced: bool = True,
    progress: bool = True,
    reference: dict | None = None,
) -> dict[str, dict]:
    """`evaluate_saes` of several SAE sets (say an SSAE and its general parent) on the same
    tokens, one result per set. `reference`, an earlier result on the same model and tokens,
    supplies the clean and zero-ablation CE of its submodules, which are then not recomputed. What does not depend on the dictionaries is computed once: the
    activations and clean logits (one pass per batch) and the zero-ablation CE of each submodule,
    so two sets of n SAEs cost 1 + n + 2n forward passes per batch instead of 2 (1 + 2n). Each
    edited pass skips the layers below its submodule, taking their outputs from the clean pass
    (`run_with_edits`' `prefix`: the same logits, about a quarter less compute for a 6-layer
    model whose unembedding costs two layers)."""
    sets = {k: s.with_specs(lm) for k, s in sets.items()}
    specs_by_name = {spec.name: spec for s in sets.values() for spec in s.specs}
    specs = list(specs_by_name.values())
    read_specs = resid_stream_specs(lm, specs) if spliced else specs
    for s in sets.values():
        s.to(lm.device)
    acc = {k: {n: _Acc(s[n].dict_size, s[n].activation_dim) for n in s} for k, s in sets.items()}
    sae_ce = {k: {n: _Mean() for n in s} for k, s in sets.items()}
    clean_ce, zero_ce = _Mean(), {n: _Mean() for n in specs_by_name}
    known = _known_zero_ce(reference, zero_ce) if spliced else set()
    n_saes = sum(len(s) for s in sets.values())
    n_docs = _n_docs(tokens, max_tokens)
    bar = tqdm(total=n_docs, disable=not progress, desc=f"sae eval ({n_saes} SAEs)", unit="doc")
    with bar:
        for batch in _doc_batches(lm, tokens, batch_docs, max_tokens):
            keep = batch["attention_mask"].bool()
            if spliced:
                acts, clean_logits = read_activations_and_logits(lm, read_specs, batch)
                _add_ce(clean_ce, clean_logits, batch)
                for n in zero_ce:
                    if n in known:
                        continue
                    logits = _edited(lm, batch, acts, specs_by_name[n], torch.zeros_like)
                    _add_ce(zero_ce[n], logits, batch)
            else:
                acts = read_activations(lm, specs, batch)
            for k, s in sets.items():
                for n in s:
                    x = acts[n][keep]
                    f = s[n].encode(x)
                    acc[k][n].add(x, f, s[n].decode(f))
                    if spliced:
                        logits = _edited(lm, batch, acts, specs_by_name[n], s[n].forward)
                        _add_ce(sae_ce[k][n], logits, batch)
            bar.update(batch["input_ids"].shape[0])
    return {
        k: _set_result(
            lm, tokens, n_docs, acc[k], sae_ce[k] if spliced else None, clean_ce, zero_ce
        )
        for k in sets
    }


def _known_zero_ce(reference: dict | None, zero_ce: dict) -> set[str]:
    """Fill `zero_ce` from a reference result where it has the submodule; the names filled."""
    known = set()
    for n, mean in zero_ce.items():
        row = (reference or {}).get("submodules", {}).get(n)
        if row is not None and row.get("ce_zero") is not None:
            mean.total, mean.n = row["ce_zero"], 1  # the mean itself: value = total / n
            known.add(n)
    return known


def _edited(lm, batch, acts, spec, edit) -> torch.Tensor:
    """Logits with `spec`'s output edited, the layers below it taken from the clean pass."""
    return run_with_edits(lm, batch, {spec.name: edit}, [spec], resid_prefix(lm, acts, spec))


def _set_result(lm, tokens, n_docs, acc, sae_ce, clean_ce, zero_ce) -> dict:
    first = next(iter(acc.values()))
    result: dict = {
        "model": lm.name,
        "dataset": tokens.source,
        "n_docs": n_docs,
        "n_tokens": first.n,
        "submodules": {},
    }
    if sae_ce is not None:
        clean = clean_ce.value
        result["clean_ce"] = clean
        result["clean_ppl"] = _exp(clean)
        result["n_ce_positions"] = clean_ce.n
    for n, a in acc.items():
        row = a.result()
        if sae_ce is not None:
            spliced_ce, zero = sae_ce[n].value, zero_ce[n].value
            row |= {
                "ce_spliced": spliced_ce,
                "ppl_spliced": _exp(spliced_ce),
                "ce_delta": spliced_ce - clean,
                "ce_zero": zero,
                "ppl_zero": _exp(zero),
                "ce_loss_recovered": (zero - spliced_ce) / (zero - clean)
                if abs(zero - clean) > 1e-12
                else None,
            }
        result["submodules"][n] = row
    keys = ("l0", "fvu", "dead_fraction") + (("ce_delta", "ce_loss_recovered") if sae_ce else ())
    result["mean"] = {
        k: _mean([r[k] for r in result["submodules"].values() if r.get(k) is not None])
        for k in keys
    }
    return result


@torch.no_grad()
def spliced_metrics(
    lm: LoadedModel,
    submodule: str,
    dictionary,
    tokens: TokenDataset,
    batch_docs: int = 16,
    max_tokens: int | None = None,
) -> dict:
    """L0, FVU and spliced CE of ONE dictionary at one submodule, one forward pass per batch.

    The submodule's output x is read, encoded and replaced by x_hat inside the same pass, so a
    study that compares many dictionaries at one site pays one forward pass per dictionary and
    batch (the clean CE, shared by all of them, comes from `clean_ce`)."""
    spec = lm.submodule(submodule)
    dictionary = dictionary.to(lm.device)
    acc = _Acc(dictionary.dict_size, dictionary.activation_dim)
    ce = _Mean()
    for batch in _doc_batches(lm, tokens, batch_docs, max_tokens):
        splice = _splicer(dictionary, acc, batch["attention_mask"].bool())
        _add_ce(ce, run_with_edits(lm, batch, {submodule: splice}, [spec]), batch)
    return acc.result() | {"n_tokens": acc.n, "ce_spliced": ce.value, "ppl_spliced": _exp(ce.value)}


def _splicer(dictionary, acc: _Acc, keep: torch.Tensor):
    """x -> x_hat, recording L0 / error / firing of the real (`keep`) positions in `acc`."""

    def splice(x: torch.Tensor) -> torch.Tensor:
        f = dictionary.encode(x)
        x_hat = dictionary.decode(f)
        acc.add(x[keep], f[keep], x_hat[keep])
        return x_hat

    return splice


@torch.no_grad()
def clean_ce(
    lm: LoadedModel, tokens: TokenDataset, batch_docs: int = 16, max_tokens: int | None = None
) -> dict:
    """Next-token CE (nats/token) and perplexity of the unedited model on `tokens`."""
    ce = _Mean()
    for batch in _doc_batches(lm, tokens, batch_docs, max_tokens):
        _add_ce(ce, run_with_edits(lm, batch), batch)
    return {"clean_ce": ce.value, "clean_ppl": _exp(ce.value), "n_ce_positions": ce.n}


def _n_docs(tokens: TokenDataset, max_tokens: int | None) -> int:
    """Documents to evaluate: all, or the first ones holding `max_tokens` real tokens."""
    if len(tokens) == 0:
        raise DataError("the token dataset is empty; nothing to evaluate")
    if max_tokens is None:
        return len(tokens)
    n = int(torch.searchsorted(tokens.lengths.long().cumsum(0), max_tokens).item()) + 1
    return min(n, len(tokens))


def _doc_batches(lm: LoadedModel, tokens: TokenDataset, batch_docs: int, max_tokens: int | None):
    n_docs = _n_docs(tokens, max_tokens)
    for start in range(0, n_docs, batch_docs):
        rows = torch.arange(start, min(start + batch_docs, n_docs))
        width = int(tokens.lengths[rows].max())
        yield {
            "input_ids": tokens.input_ids[rows, :width].long().to(lm.device),
            "attention_mask": tokens.attention_mask(rows)[:, :width].to(lm.device),
        }


class _Acc:
    """Running sums for L0, FVU, feature firing and the error's linear part of one SAE."""

    def __init__(self, dict_size: int, d: int):
        self.n = 0
        # [x, 1] z^T z and z e^T over the fit tokens (even positions) and the score tokens (odd):
        # the least-squares fit and its held-out error both follow from these sums.
        self.zz = torch.zeros(2, d + 1, d + 1, dtype=torch.float64)
        self.ze = torch.zeros(2, d + 1, d, dtype=torch.float64)
        self.ee = torch.zeros(2, dtype=torch.float64)
        self.l0 = 0.0
        self.sq_err = 0.0
        self.sum_x = torch.zeros(d, dtype=torch.float64)
        self.sum_sq = 0.0
        self.fired = torch.zeros(dict_size, dtype=torch.bool)
        self.max_act = torch.zeros(dict_size, dtype=torch.float64)

    def add(self, x: torch.Tensor, f: torch.Tensor, x_hat: torch.Tensor) -> None:
        x64 = x.double().cpu()
        active = (f > 0).cpu()
        e = x64 - x_hat.double().cpu()
        z = torch.cat([x64, torch.ones(len(x64), 1, dtype=torch.float64)], 1)
        part = (self.n + torch.arange(len(x64))) % 2
        for p in (0, 1):
            zp, ep = z[part == p], e[part == p]
            self.zz[p] += zp.T @ zp
            self.ze[p] += zp.T @ ep
            self.ee[p] += ep.pow(2).sum()
        self.n += x.shape[0]
        self.l0 += float(active.sum())
        self.sq_err += float((x.double() - x_hat.double()).pow(2).sum())
        self.sum_x += x64.sum(0)
        self.sum_sq += float(x64.pow(2).sum())
        self.fired |= active.any(0)
        self.max_act = torch.maximum(self.max_act, f.double().cpu().amax(0))

    def result(self) -> dict:
        n = max(self.n, 1)
        total_var = self.sum_sq - float(self.sum_x.pow(2).sum()) / n
        dead = int((~self.fired).sum())
        return {
            "dict_size": int(self.fired.numel()),
            "l0": self.l0 / n,
            "mse": self.sq_err / n,
            "fvu": self.sq_err / total_var if total_var > 0 else None,
            "dead": dead,
            "alive": int(self.fired.numel()) - dead,
            "dead_fraction": dead / max(1, self.fired.numel()),
            **self._linear_error(),
        }

    def _linear_error(self) -> dict:
        """Held-out least squares of the error on [x, 1] (module docstring)."""
        (fit_ze, score_ze), (fit_zz, score_zz), score_ee = self.ze, self.zz, self.ee[1]
        n_score = float(score_zz[-1, -1])  # the constant column counts the tokens
        if float(fit_zz[-1, -1]) < 2 or n_score < 2:
            return {"error_linear_share": None, "nonlinear_error_fvu": None}
        eye = torch.eye(len(fit_zz), dtype=torch.float64)
        ridge = 1e-9 * float(fit_zz.diagonal().mean()) * eye  # only against a singular fit
        w = torch.linalg.solve(fit_zz + ridge, fit_ze)  # [d + 1, d]: e ~ z w on the fit tokens
        # sum ||e - z w||^2 over the score tokens, from their sums alone
        resid = float(score_ee - 2 * (w * score_ze).sum() + (w * (score_zz @ w)).sum())
        e_sum, x_sum = score_ze[-1], score_zz[-1, :-1]
        e_var = float(score_ee - e_sum.pow(2).sum() / n_score)
        x_var = float(score_zz.diagonal()[:-1].sum() - x_sum.pow(2).sum() / n_score)
        return {
            "error_linear_share": 1 - resid / e_var if e_var > 0 else None,
            "nonlinear_error_fvu": resid / x_var if x_var > 0 else None,
        }


class _Mean:
    def __init__(self):
        self.total = 0.0
        self.n = 0

    def add(self, values: torch.Tensor, count: int) -> None:
        self.total += float(values.double().sum())
        self.n += count

    @property
    def value(self) -> float:
        return self.total / self.n if self.n else float("nan")


def _add_ce(mean: _Mean, logits: torch.Tensor, batch: dict) -> None:
    ce, valid = next_token_loss(logits, batch["input_ids"], batch["attention_mask"])
    mean.add(ce, int(valid.sum()))


def _exp(x: float) -> float:
    return math.exp(x) if x < 700 else float("inf")


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def metric_table(result: dict, keys: tuple[str, ...] = ("l0", "fvu", "dead", "ce_delta")) -> str:
    """A plain-text table of an `evaluate_saes` result, one row per submodule."""
    fmt: Callable = lambda v: "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))  # noqa: E731
    present = [k for k in keys if any(k in r for r in result["submodules"].values())]
    lines = ["submodule".ljust(20) + "".join(k.rjust(12) for k in present)]
    for name, row in result["submodules"].items():
        lines.append(name.ljust(20) + "".join(fmt(row.get(k)).rjust(12) for k in present))
    return "\n".join(lines)
