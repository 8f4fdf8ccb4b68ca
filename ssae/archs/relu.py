"""ReLU + L1 SAE (Bricken et al. 2023), in dictionary_learning's `AutoEncoder` layout.

    f = ReLU(W_enc (x - b_dec) + b_enc),   x_hat = W_dec f + b_dec,   ||W_dec[:, j]|| = 1,

trained on l_i = ||x_i - x_hat_i||^2 + lambda ||f_i||_1 per token (dictionary_learning's
StandardTrainer loss when averaged). Parameter names `encoder.weight` [n, d], `encoder.bias` [n],
`decoder.weight` [d, n] and `bias` [d], so the state dict is a dictionary_learning `ae.pt`.

Dead features can be resampled (Bricken et al.): the encoder row and decoder column are pointed
at a batch input drawn with probability proportional to its squared reconstruction loss, the
encoder row scaled to 0.2 x the mean alive row norm, its bias zeroed and its Adam moments reset.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ssae.archs.base import (
    LinearDecoder,
    LossContext,
    TrainableDictionary,
    TrainingLoss,
    random_directions,
)


class AutoEncoder(LinearDecoder, TrainableDictionary):
    """ReLU SAE with dictionary_learning's parameter layout (see module docstring)."""

    dict_class = "AutoEncoder"
    arch = "relu"
    resamples = True
    uses_l1 = True

    def __init__(
        self,
        activation_dim: int,
        dict_size: int,
        init_scale: float = 0.1,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.activation_dim = activation_dim
        self.dict_size = dict_size
        self.bias = nn.Parameter(torch.zeros(activation_dim))
        self.encoder = nn.Linear(activation_dim, dict_size, bias=True)
        self.decoder = nn.Linear(dict_size, activation_dim, bias=False)
        w = random_directions(activation_dim, dict_size, generator)
        with torch.no_grad():
            self.decoder.weight.copy_(w)
            self.encoder.weight.copy_(w.T * init_scale)
            self.encoder.bias.zero_()

    @classmethod
    def create(cls, d, n, arch, generator):
        return cls(d, n, generator=generator)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.encoder(x - self.bias))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return self.decoder(f) + self.bias

    def set_features(self, x: torch.Tensor, idx: torch.Tensor, values) -> torch.Tensor:
        # The decoder is affine, so the edit is x + W_dec[:, idx] (values - f[idx]); only the
        # edited features are encoded: O(|idx| d) per token instead of O(n d).
        w_enc = self.encoder.weight[idx]
        f_idx = torch.relu((x - self.bias) @ w_enc.T + self.encoder.bias[idx])
        return x + (values - f_idx) @ self.decoder.weight[:, idx].T

    @property
    def decoder_bias(self) -> nn.Parameter:
        return self.bias

    def training_loss(self, x: torch.Tensor, ctx: LossContext) -> TrainingLoss:
        # W_enc (x - b_dec) + b_enc computed as W_enc x + (b_enc - W_enc b_dec): the same value,
        # but the gradient of b_dec through the encoder becomes a matrix-vector product instead
        # of an [N, n] x [n, d] matrix product (one of six large matmuls per step).
        w = self.encoder.weight
        f = torch.relu(F.linear(x, w, self.encoder.bias - w @ self.bias))
        sq = (self.decode(f) - x).pow(2).sum(-1)
        return TrainingLoss(per_token=sq + ctx.l1 * f.sum(-1), sq=sq, f=f)

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale decoder columns to unit norm, compensating in the encoder (output unchanged)."""
        norms = self.decoder.weight.norm(dim=0).clamp_min(1e-12)
        self.decoder.weight.div_(norms)
        self.encoder.weight.mul_(norms[:, None])
        self.encoder.bias.mul_(norms)

    @torch.no_grad()
    def scale_biases(self, scale: float) -> None:
        self.encoder.bias.mul_(scale)
        self.bias.mul_(scale)

    @torch.no_grad()
    def slice(self, k: int) -> AutoEncoder:
        self._check_k(k)
        out = type(self)(self.activation_dim, k).to(self.encoder.weight)
        out.encoder.weight.copy_(self.encoder.weight[:k])
        out.encoder.bias.copy_(self.encoder.bias[:k])
        out.decoder.weight.copy_(self.decoder.weight[:, :k])
        out.bias.copy_(self.bias)
        return out

    @torch.no_grad()
    def resample_dead(
        self,
        dead: torch.Tensor,
        x: torch.Tensor,
        generator: torch.Generator,
        optimizer: torch.optim.Optimizer,
    ) -> torch.Tensor:
        """Re-point dead features at badly reconstructed rows of x; returns their indices."""
        none = dead.new_zeros(0, dtype=torch.long)
        n_dead = int(dead.sum())
        if n_dead == 0 or n_dead == self.dict_size:
            return none
        sq = (self(x) - x).pow(2).sum(-1)
        if float(sq.sum()) <= 0:
            return none
        n = min(n_dead, x.shape[0])
        rows = torch.multinomial(
            sq.pow(2).cpu().double(), n, replacement=False, generator=generator
        )
        idx = dead.nonzero().squeeze(-1)[:n]
        picked = x[rows.to(x.device)] - self.bias
        unit = picked / picked.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        alive_norm = self.encoder.weight[~dead].norm(dim=-1).mean()
        self.encoder.weight[idx] = unit * alive_norm * 0.2
        self.encoder.bias[idx] = 0.0
        self.decoder.weight[:, idx] = unit.T
        for p, dim in ((self.encoder.weight, 0), (self.encoder.bias, 0), (self.decoder.weight, 1)):
            state = optimizer.state.get(p)
            for key in ("exp_avg", "exp_avg_sq"):
                if state and key in state:
                    state[key].index_fill_(dim, idx, 0.0)
        return idx


class RandomDecoderAutoEncoder(AutoEncoder):
    """The random-decoder control ("Sanity Checks for SAEs", arXiv 2602.14111): a ReLU + L1 SAE
    whose decoder directions stay at their random unit initialisation; only the encoder and the
    biases train. Saved as a plain `AutoEncoder` (the weights are one); config.json records the
    architecture, so a finetune keeps the decoder frozen. Its features cannot be re-pointed, so it
    does not resample."""

    arch = "random-decoder"
    resamples = False

    def __init__(self, activation_dim, dict_size, init_scale=0.1, generator=None):
        super().__init__(activation_dim, dict_size, init_scale, generator)
        self.decoder.weight.requires_grad_(False)

    @classmethod
    def frozen(cls, ae: AutoEncoder) -> RandomDecoderAutoEncoder:
        """The same weights as a random-decoder SAE (a loaded `AutoEncoder` to finetune)."""
        out = cls(ae.activation_dim, ae.dict_size).to(ae.encoder.weight)
        out.load_state_dict(ae.state_dict())
        return out
