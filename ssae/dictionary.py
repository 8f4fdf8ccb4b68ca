"""Sparse dictionaries over one activation site.

Every dictionary maps an activation x [..., d] to features f [..., n] and back:

    x_hat = decode(f),   error = x - x_hat,   x = x_hat + error  (exactly).

Circuits need the features and the error together (`features_and_error`), and SHIFT edits a
submodule's output as `decode(f with chosen features zeroed) + error`.

The architectures (ReLU + L1, TopK, BatchTopK, JumpReLU, Matryoshka, OrtSAE, the random-decoder
control) are subclasses defined one per module in `ssae.archs`, each with its training loss.

Every dictionary can be cut to its first k features (`slice`): encoder rows and decoder columns
0..k-1 are kept, the biases of the input space stay, so feature j of the slice is feature j of the
original (the SSAE paper's compression experiment).
"""

from __future__ import annotations

import torch
from torch import nn

from ssae.errors import ConfigError


class Dictionary(nn.Module):
    """Base class: subclasses define `encode`, `decode`, `activation_dim`, `dict_size`."""

    activation_dim: int
    dict_size: int
    dict_class: str = "Dictionary"
    """Class name in dictionary_learning's config.json (`trainer.dict_class`)."""

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

    def set_features(self, x: torch.Tensor, idx: torch.Tensor, values) -> torch.Tensor:
        """decode(f with f[..., idx] := values) + (x - decode(f)): x with some features edited."""
        f, err = self.features_and_error(x)
        f = f.clone()
        f[..., idx] = values
        return self.decode(f) + err

    @property
    def decoder_directions(self) -> torch.Tensor:
        """Decoder direction of every feature as rows [n, d] (for logit lens and edges)."""
        raise NotImplementedError

    def slice(self, k: int) -> Dictionary:
        """A new dictionary made of features 0..k-1 of this one (same outputs on those features)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be sliced")

    def scale_biases(self, scale: float) -> None:
        """Make the dictionary act on `scale * x` as it did on `x` (features scale by `scale`).

        With f' = scale * f: encoder weights are unchanged and every bias and threshold is
        multiplied by `scale`; decoder directions stay unit norm. Used to fold the activation
        normalisation of training back into a dictionary that reads raw activations.
        """
        raise NotImplementedError(f"{type(self).__name__} has no biases to scale")

    def _check_k(self, k: int) -> None:
        if not 1 <= k <= self.dict_size:
            raise ConfigError(f"cannot keep {k} features of a dictionary with {self.dict_size}")


class IdentityDictionary(Dictionary):
    """Neurons as features: f = x, decode(f) = f, error = 0 (the neuron skyline's dictionary)."""

    dict_class = "IdentityDict"

    def __init__(
        self,
        activation_dim: int,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.activation_dim = activation_dim
        self.dict_size = activation_dim
        # Without parameters there is nothing for `.to()` to move; this empty buffer carries the
        # device and dtype that the decoder directions are created with (the model's, not the CPU's).
        self.register_buffer(
            "anchor", torch.empty(0, device=device, dtype=dtype or torch.float32), persistent=False
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f

    def set_features(self, x: torch.Tensor, idx: torch.Tensor, values) -> torch.Tensor:
        out = x.clone()
        out[..., idx] = values
        return out

    @property
    def decoder_directions(self) -> torch.Tensor:
        return torch.eye(self.activation_dim, device=self.anchor.device, dtype=self.anchor.dtype)
