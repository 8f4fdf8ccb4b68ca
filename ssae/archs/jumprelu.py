"""JumpReLU SAE (Rajamanoharan et al. 2024), in dictionary_learning's `JumpReluAutoEncoder` layout.

    pre = (x - b_dec?) W_enc + b_enc,   f = pre * 1[pre > theta],   x_hat = f W_dec + b_dec,

with a learned threshold theta per feature (the b_dec subtraction is optional,
`apply_b_dec_to_input`, off for the dictionaries trained here, as in the reference). The step
function has no useful gradient, so training uses straight-through estimators with a rectangle
kernel of width epsilon (`bandwidth`):

    d f / d theta = -(theta / eps) rect((pre - theta) / eps),
    d 1[f > theta] / d theta = -(1 / eps) rect((f - theta) / eps),

and the sparsity loss is a function of the batch's L0 (dictionary_learning's JumpReluTrainer
form): c * (L0 / target_l0 - 1)^2 with L0 = mean_i sum_j 1[f_ij > theta_j], warmed up linearly;
plus ||x - x_hat||^2 per token. Adam with betas (0, 0.999) and gradient norm clipped at 1, as the
reference. State dict: `W_enc` [d, n], `b_enc` [n], `W_dec` [n, d], `b_dec` [d], `threshold` [n].
"""

from __future__ import annotations

import torch
from torch import autograd, nn

from ssae.archs.base import (
    LossContext,
    MatrixDecoder,
    TrainableDictionary,
    TrainingLoss,
    random_directions,
)


def _rectangle(z: torch.Tensor) -> torch.Tensor:
    return ((z > -0.5) & (z < 0.5)).to(z.dtype)


class _JumpReLU(autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold, bandwidth):
        ctx.save_for_backward(x, threshold)
        ctx.bandwidth = bandwidth
        return x * (x > threshold).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        x_grad = (x > threshold).to(x.dtype) * grad
        theta_grad = -(threshold / eps) * _rectangle((x - threshold) / eps) * grad
        return x_grad, theta_grad, None


class _Step(autograd.Function):
    @staticmethod
    def forward(ctx, x, threshold, bandwidth):
        ctx.save_for_backward(x, threshold)
        ctx.bandwidth = bandwidth
        return (x > threshold).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        theta_grad = -(1.0 / eps) * _rectangle((x - threshold) / eps) * grad
        return torch.zeros_like(x), theta_grad, None


class JumpReLUAutoEncoder(MatrixDecoder, TrainableDictionary):
    """JumpReLU SAE (see module docstring)."""

    dict_class = "JumpReluAutoEncoder"
    arch = "jumprelu"
    clip_grad_norm = 1.0
    adam_betas = (0.0, 0.999)

    def __init__(
        self,
        activation_dim: int,
        dict_size: int,
        apply_b_dec_to_input: bool = False,
        init_threshold: float = 1e-3,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.activation_dim = activation_dim
        self.dict_size = dict_size
        self.apply_b_dec_to_input = apply_b_dec_to_input
        w = random_directions(activation_dim, dict_size, generator).T.contiguous()
        self.W_enc = nn.Parameter(w.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(dict_size))
        self.W_dec = nn.Parameter(w)
        self.b_dec = nn.Parameter(torch.zeros(activation_dim))
        self.threshold = nn.Parameter(torch.full((dict_size,), float(init_threshold)))

    @classmethod
    def create(cls, d, n, arch, generator):
        return cls(d, n, init_threshold=arch.init_threshold, generator=generator)

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        if self.apply_b_dec_to_input:
            x = x - self.b_dec
        return x @ self.W_enc + self.b_enc

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.pre_activations(x)
        return torch.relu(pre * (pre > self.threshold))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_dec

    def set_features(self, x: torch.Tensor, idx: torch.Tensor, values) -> torch.Tensor:
        # Features are independent given x: encode only the edited ones (as ReLU does).
        inp = x - self.b_dec if self.apply_b_dec_to_input else x
        pre = inp @ self.W_enc[:, idx] + self.b_enc[idx]
        f_idx = torch.relu(pre * (pre > self.threshold[idx]))
        return x + (values - f_idx) @ self.W_dec[idx]

    def training_loss(self, x: torch.Tensor, ctx: LossContext) -> TrainingLoss:
        eps = ctx.arch.bandwidth
        f = _JumpReLU.apply(self.pre_activations(x), self.threshold, eps)
        sq = (x - self.decode(f)).pow(2).sum(-1)
        l0 = _Step.apply(f, self.threshold, eps).sum(-1).mean()
        target = ctx.arch.target_l0
        sparsity = ctx.arch.sparsity_coef * (l0 / target - 1).pow(2) * ctx.sparsity_scale
        return TrainingLoss(per_token=sq, sq=sq, f=f, batch=sparsity)

    @torch.no_grad()
    def scale_biases(self, scale: float) -> None:
        self.b_enc.mul_(scale)
        self.b_dec.mul_(scale)
        self.threshold.mul_(scale)

    @torch.no_grad()
    def slice(self, k: int) -> JumpReLUAutoEncoder:
        self._check_k(k)
        out = type(self)(self.activation_dim, k, self.apply_b_dec_to_input).to(self.W_enc)
        out.W_enc.copy_(self.W_enc[:, :k])
        out.b_enc.copy_(self.b_enc[:k])
        out.W_dec.copy_(self.W_dec[:k])
        out.b_dec.copy_(self.b_dec)
        out.threshold.copy_(self.threshold[:k])
        return out
