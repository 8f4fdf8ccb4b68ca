"""Boosting a general SAE for a subdomain: a residual SAE on its error, outputs summed
(Koriagin et al. 2025, "Teach Old SAEs New Domain Tricks with Boosting", arXiv 2507.12990).

Instead of finetuning the general SAE (which changes the features it has), keep it frozen and
train a second SAE on what it misses on subdomain data, its reconstruction error:

    e = x - base(x),      f_r = ReLU(W_r,enc e + b_r,enc),      e_hat = W_r,dec f_r,
    x_hat = base(x) + e_hat,

with no decoder bias in the residual SAE, so it adds nothing where none of its features fire and
the general features keep their meaning. Trained with the usual loss ||e - e_hat||^2 + lambda
||f_r||_1 (ssae.train.train_saes with `residual_of`). `BoostedDictionary` is the pair as one
dictionary whose features are the base's followed by the residual's, so evaluation, statistics
and the logit lens treat it like any other SAE.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ssae.dictionary import Dictionary
from ssae.errors import ToolkitError
from ssae.models import LoadedModel
from ssae.sae_set import SAESet
from ssae.tokens import TokenDataset
from ssae.train import TrainConfig, train_saes


class BoostedDictionary(Dictionary):
    """A frozen base dictionary plus a residual dictionary trained on its error."""

    dict_class = "BoostedDictionary"

    def __init__(self, base: Dictionary, residual: Dictionary):
        super().__init__()
        if base.activation_dim != residual.activation_dim:
            raise ToolkitError(
                f"boost: base reads width {base.activation_dim}, residual {residual.activation_dim}"
            )
        self.base = base
        self.residual = residual
        self.activation_dim = base.activation_dim
        self.dict_size = base.dict_size + residual.dict_size

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        f_base = self.base.encode(x)
        f_res = self.residual.encode(x - self.base.decode(f_base))
        return torch.cat([f_base, f_res], dim=-1)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        n = self.base.dict_size
        return self.base.decode(f[..., :n]) + self.residual.decode(f[..., n:])

    @property
    def decoder_directions(self) -> torch.Tensor:
        return torch.cat([self.base.decoder_directions, self.residual.decoder_directions])

    def scale_biases(self, scale: float) -> None:
        self.base.scale_biases(scale)
        self.residual.scale_biases(scale)


def train_boost(
    lm: LoadedModel, base: SAESet, tokens: TokenDataset, cfg: TrainConfig, out_dir: str | Path
) -> SAESet:
    """Residual SAEs (one per submodule of `cfg.names`, default: all of `base`) trained on the
    error of the frozen `base` set on `tokens`; saved in `out_dir`, resumable like any run."""
    names = cfg.names or base.names
    cfg = dataclasses.replace(cfg, names=names, decoder_bias=False)
    return train_saes(lm, tokens, cfg, out_dir, residual_of=base.subset(names))


def boosted_set(base: SAESet, residual: SAESet) -> SAESet:
    """base[n] + residual[n] for every submodule n of the residual set (bind it to a model with
    `with_specs` before evaluating)."""
    missing = [n for n in residual.names if n not in base]
    if missing:
        raise ToolkitError(f"boost: the base set has no SAEs for {missing}")
    dicts = {n: BoostedDictionary(base[n], residual[n]) for n in residual.names}
    return SAESet(dicts, meta={"boost_of": residual.meta.get("key")})
