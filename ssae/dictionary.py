"""Sparse dictionaries over one activation site.

Every dictionary maps an activation x [..., d] to features f [..., n] and back:

    x_hat = decode(f),   error = x - x_hat,   x = x_hat + error  (exactly).

Circuits need the features and the error together (`features_and_error`), and SHIFT edits a
submodule's output as `decode(f with chosen features zeroed) + error`.

`AutoEncoder` has exactly the parameters and semantics of dictionary_learning's `AutoEncoder`
(Bricken et al. 2023 style ReLU SAE):

    f = ReLU(W_enc (x - b_dec) + b_enc),   x_hat = W_dec f + b_dec,   ||W_dec[:, j]|| = 1,

with parameter names `encoder.weight` [n, d], `encoder.bias` [n], `decoder.weight` [d, n] and
`bias` [d], so its state dict is a dictionary_learning `ae.pt`.
"""

from __future__ import annotations

import torch
from torch import nn


class Dictionary(nn.Module):
    """Base class: subclasses define `encode`, `decode`, `activation_dim`, `dict_size`."""

    activation_dim: int
    dict_size: int

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, output_features: bool = False):
        f = self.encode(x)
        x_hat = self.decode(f)
        return (x_hat, f) if output_features else x_hat

    def features_and_error(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features f and reconstruction error x - decode(f), so that decode(f) + error == x."""
        f = self.encode(x)
        return f, x - self.decode(f)

    @property
    def decoder_directions(self) -> torch.Tensor:
        """Decoder direction of every feature as rows [n, d] (for logit lens and edges)."""
        raise NotImplementedError


class AutoEncoder(Dictionary):
    """ReLU SAE with dictionary_learning's parameter layout (see module docstring)."""

    def __init__(self, activation_dim: int, dict_size: int, init_scale: float = 0.1):
        super().__init__()
        self.activation_dim = activation_dim
        self.dict_size = dict_size
        self.bias = nn.Parameter(torch.zeros(activation_dim))
        self.encoder = nn.Linear(activation_dim, dict_size, bias=True)
        self.decoder = nn.Linear(dict_size, activation_dim, bias=False)
        w = torch.randn(activation_dim, dict_size)
        w = w / w.norm(dim=0, keepdim=True)
        with torch.no_grad():
            self.decoder.weight.copy_(w)
            self.encoder.weight.copy_(w.T * init_scale)
            self.encoder.bias.zero_()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.encoder(x - self.bias))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return self.decoder(f) + self.bias

    @property
    def decoder_directions(self) -> torch.Tensor:
        return self.decoder.weight.T

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale decoder columns to unit norm, compensating in the encoder (output unchanged)."""
        norms = self.decoder.weight.norm(dim=0).clamp_min(1e-12)
        self.decoder.weight.div_(norms)
        self.encoder.weight.mul_(norms[:, None])
        self.encoder.bias.mul_(norms)


class IdentityDictionary(Dictionary):
    """Neurons as features: f = x, decode(f) = f, error = 0 (the neuron skyline's dictionary)."""

    def __init__(self, activation_dim: int):
        super().__init__()
        self.activation_dim = activation_dim
        self.dict_size = activation_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f

    @property
    def decoder_directions(self) -> torch.Tensor:
        return torch.eye(self.activation_dim)
