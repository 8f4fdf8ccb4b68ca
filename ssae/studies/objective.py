"""What the training objective changes in an SAE: Tilted ERM against ERM (SSAE paper's TERM
study on TinyStories; ssae.term for the objective itself).

TERM with tilt t > 0 weights each token's loss by softmax(t l)_i, so the worst-reconstructed
tokens (often rare ones) dominate. The measurements that show what that buys and costs:

- reconstruction error by token rank: tokens ranked by frequency in the data (rank 1 = most
  frequent), rank bins spaced evenly in log(rank), mean ||x - x_hat||^2 of the tokens in each bin;
- the distribution of per-token errors, with its mean and maximum (TERM should cut the maximum);
- decoder cosine similarity: for each feature, max_{k != j} |cos(d_j, d_k)| (redundant features
  score near 1), and the histogram of all pairwise cosines;
- PCA dimension of the decoder: the number of principal components of the (mean-centred) decoder
  directions that explain 90% of their variance (more = directions spread over more of the space);
- activation entropy and maximum activation per token (ssae.studies.stats): how many features
  share a token's code and how strongly the top one fires.
"""

from __future__ import annotations

import numpy as np
import torch

from ssae.errors import ConfigError
from ssae.studies.stats import DictStats


@torch.no_grad()
def decoder_cosines(
    directions: torch.Tensor, bins: int = 50, block: int = 4096
) -> tuple[np.ndarray, dict]:
    """(max |cos| of each feature with any other, histogram of all pairwise cosines j < k).

    Works in row blocks so a 32k-feature dictionary never holds an n x n matrix."""
    w = directions.detach().float().cpu()
    w = w / w.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    n = w.shape[0]
    edges = np.linspace(-1.0, 1.0, bins + 1)
    hist = np.zeros(bins, dtype=np.int64)
    best = np.zeros(n)
    for start in range(0, n, block):
        c = w[start : start + block] @ w.T
        rows = torch.arange(c.shape[0])
        c[rows, rows + start] = 0.0  # a feature's cosine with itself does not count
        best[start : start + c.shape[0]] = c.abs().amax(-1).numpy() if n > 1 else 0.0
        upper = torch.ones_like(c, dtype=torch.bool).triu(start + 1)
        hist += np.histogram(c[upper].numpy(), bins=edges)[0]
    return best, {"edges": edges.tolist(), "counts": hist.tolist()}


@torch.no_grad()
def pca_components(directions: torch.Tensor, share: float = 0.9) -> int:
    """Principal components of the centred decoder directions needed for `share` of variance."""
    w = directions.detach().double().cpu()
    s = torch.linalg.svdvals(w - w.mean(0, keepdim=True))
    var = s.pow(2)
    if float(var.sum()) == 0:
        return 0
    frac = (var.cumsum(0) / var.sum()).numpy()
    return int(np.searchsorted(frac, share - 1e-12) + 1)


def error_by_rank(
    token_ids: torch.Tensor, sq_error: torch.Tensor, token_counts: np.ndarray, n_bins: int = 12
) -> list[dict]:
    """Mean squared error of the tokens in log-spaced frequency-rank bins (rank 1 = commonest)."""
    used = np.flatnonzero(token_counts > 0)
    order = used[np.lexsort((used, -token_counts[used]))]
    rank = np.zeros(len(token_counts), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)
    r = rank[token_ids.cpu().numpy()]
    if (r == 0).any():
        raise ConfigError("every measured token must have a count in token_counts")
    err = sq_error.double().cpu().numpy()
    edges = np.unique(np.geomspace(1, len(order) + 1, n_bins + 1).astype(np.int64))
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (r >= lo) & (r < hi)
        if sel.any():
            out.append(
                {
                    "rank_lo": int(lo),
                    "rank_hi": int(hi),
                    "n_tokens": int(sel.sum()),
                    "mean_error": float(err[sel].mean()),
                }
            )
    return out


def summary(stats: DictStats) -> dict:
    """Headline numbers of one dictionary's per-token statistics."""
    err = stats.sq_error.double()
    rel = err / stats.x_norm_sq.double().clamp_min(1e-30)
    return {
        "mean_error": float(err.mean()),
        "max_error": float(err.max()),
        "p99_error": float(torch.quantile(err, 0.99)),
        "mean_relative_error": float(rel.mean()),
        "l0": float(stats.l0.double().mean()),
        "mean_entropy": float(stats.entropy.double().mean()),
        "mean_max_act": float(stats.max_act.double().mean()),
        "alive_features": int((stats.counts > 0).sum()),
    }
