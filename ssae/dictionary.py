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

Two more activation functions are read from other tools (see `ssae.formats`):

- `TopKAutoEncoder` (Gao et al. 2024; dictionary_learning's `AutoEncoderTopK` layout): the same
  affine maps, but only the k largest pre-activations of each token survive,
  f = TopK_k(ReLU(W_enc (x - b_dec) + b_enc)).
- `JumpReLUAutoEncoder` (Rajamanoharan et al. 2024; dictionary_learning's `JumpReluAutoEncoder`
  layout): pre = (x - b_dec?) W_enc + b_enc and f = pre * 1[pre > theta], with a per-feature
  threshold theta; the b_dec subtraction is optional (`apply_b_dec_to_input`).

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


class AutoEncoder(Dictionary):
    """ReLU SAE with dictionary_learning's parameter layout (see module docstring)."""

    dict_class = "AutoEncoder"

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

    def set_features(self, x: torch.Tensor, idx: torch.Tensor, values) -> torch.Tensor:
        # The decoder is affine, so the edit is x + W_dec[:, idx] (values - f[idx]); only the
        # edited features are encoded: O(|idx| d) per token instead of O(n d).
        w_enc = self.encoder.weight[idx]
        f_idx = torch.relu((x - self.bias) @ w_enc.T + self.encoder.bias[idx])
        return x + (values - f_idx) @ self.decoder.weight[:, idx].T

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

    @torch.no_grad()
    def scale_biases(self, scale: float) -> None:
        self.encoder.bias.mul_(scale)
        self.bias.mul_(scale)

    @torch.no_grad()
    def slice(self, k: int) -> AutoEncoder:
        self._check_k(k)
        ref = self.encoder.weight
        out = AutoEncoder(self.activation_dim, k).to(device=ref.device, dtype=ref.dtype)
        out.encoder.weight.copy_(self.encoder.weight[:k])
        out.encoder.bias.copy_(self.encoder.bias[:k])
        out.decoder.weight.copy_(self.decoder.weight[:, :k])
        out.bias.copy_(self.bias)
        return out


class TopKAutoEncoder(Dictionary):
    """TopK SAE in dictionary_learning's `AutoEncoderTopK` layout (see module docstring).

    State dict: `encoder.weight` [n, d], `encoder.bias` [n], `decoder.weight` [d, n], `b_dec` [d],
    and the buffers `k` (int) and `threshold` (float; -1 when unset). The threshold is only used
    when `use_threshold` is set, which replaces TopK by f = f_relu * 1[f_relu > threshold].
    """

    dict_class = "AutoEncoderTopK"

    def __init__(self, activation_dim: int, dict_size: int, k: int, use_threshold: bool = False):
        super().__init__()
        if not 1 <= k <= dict_size:
            raise ConfigError(f"TopK needs 1 <= k <= dict_size, got k={k}, dict_size={dict_size}")
        self.activation_dim = activation_dim
        self.dict_size = dict_size
        self.use_threshold = use_threshold
        self.register_buffer("k", torch.tensor(k, dtype=torch.int))
        self.register_buffer("threshold", torch.tensor(-1.0))
        self.encoder = nn.Linear(activation_dim, dict_size, bias=True)
        self.decoder = nn.Linear(dict_size, activation_dim, bias=False)
        self.b_dec = nn.Parameter(torch.zeros(activation_dim))
        w = torch.randn(activation_dim, dict_size)
        w = w / w.norm(dim=0, keepdim=True)
        with torch.no_grad():
            self.decoder.weight.copy_(w)
            self.encoder.weight.copy_(w.T)
            self.encoder.bias.zero_()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        acts = torch.relu(self.encoder(x - self.b_dec))
        if self.use_threshold:
            return acts * (acts > self.threshold)
        top = acts.topk(int(self.k), dim=-1, sorted=False)
        return torch.zeros_like(acts).scatter_(-1, top.indices, top.values)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return self.decoder(f) + self.b_dec

    @property
    def decoder_directions(self) -> torch.Tensor:
        return self.decoder.weight.T

    @torch.no_grad()
    def scale_biases(self, scale: float) -> None:
        self.encoder.bias.mul_(scale)
        self.b_dec.mul_(scale)
        if self.threshold >= 0:
            self.threshold.mul_(scale)

    @torch.no_grad()
    def slice(self, k: int) -> TopKAutoEncoder:
        self._check_k(k)
        ref = self.encoder.weight
        out = TopKAutoEncoder(self.activation_dim, k, min(int(self.k), k), self.use_threshold)
        out.to(device=ref.device, dtype=ref.dtype)
        out.encoder.weight.copy_(self.encoder.weight[:k])
        out.encoder.bias.copy_(self.encoder.bias[:k])
        out.decoder.weight.copy_(self.decoder.weight[:, :k])
        out.b_dec.copy_(self.b_dec)
        out.threshold.copy_(self.threshold)
        return out


class JumpReLUAutoEncoder(Dictionary):
    """JumpReLU SAE in dictionary_learning's `JumpReluAutoEncoder` layout (see module docstring).

    State dict: `W_enc` [d, n], `b_enc` [n], `W_dec` [n, d], `b_dec` [d], `threshold` [n].
    """

    dict_class = "JumpReluAutoEncoder"

    def __init__(self, activation_dim: int, dict_size: int, apply_b_dec_to_input: bool = False):
        super().__init__()
        self.activation_dim = activation_dim
        self.dict_size = dict_size
        self.apply_b_dec_to_input = apply_b_dec_to_input
        w = torch.randn(dict_size, activation_dim)
        w = w / w.norm(dim=1, keepdim=True)
        self.W_enc = nn.Parameter(w.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(dict_size))
        self.W_dec = nn.Parameter(w)
        self.b_dec = nn.Parameter(torch.zeros(activation_dim))
        self.threshold = nn.Parameter(torch.full((dict_size,), 1e-3))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.apply_b_dec_to_input:
            x = x - self.b_dec
        pre = x @ self.W_enc + self.b_enc
        return torch.relu(pre * (pre > self.threshold))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec

    @property
    def decoder_directions(self) -> torch.Tensor:
        return self.W_dec

    @torch.no_grad()
    def scale_biases(self, scale: float) -> None:
        self.b_enc.mul_(scale)
        self.b_dec.mul_(scale)
        self.threshold.mul_(scale)

    @torch.no_grad()
    def slice(self, k: int) -> JumpReLUAutoEncoder:
        self._check_k(k)
        ref = self.W_enc
        out = JumpReLUAutoEncoder(self.activation_dim, k, self.apply_b_dec_to_input)
        out.to(device=ref.device, dtype=ref.dtype)
        out.W_enc.copy_(self.W_enc[:, :k])
        out.b_enc.copy_(self.b_enc[:k])
        out.W_dec.copy_(self.W_dec[:k])
        out.b_dec.copy_(self.b_dec)
        out.threshold.copy_(self.threshold[:k])
        return out


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
