"""Linear probes on pooled activations, trained as in Marks et al. (2024).

A probe is a logistic-regression head p(y = 1 | a) = sigmoid(w . a + b) on a pooled activation a,
trained by minimising the binary cross-entropy

    L(w, b) = -(1/|B|) sum_{i in B} [ y_i log sigmoid(z_i) + (1 - y_i) log(1 - sigmoid(z_i)) ],
    z_i = w . a_i + b,

with AdamW (lr 1e-2), batches of 128 taken in the data's (already shuffled) order, one epoch, and
the parameters initialised after `torch.manual_seed(42)` (the paper's setup, SSAE paper App.
G.1). One epoch of the paper's ambiguous set (~22k examples) is ~170 steps. On a small dataset one
epoch can be a single step, which leaves the probe near its initialisation; `min_steps` (off by
default) repeats whole epochs until at least that many steps are taken. It is an explicit
departure from the recipe, which a preset names when its data is too small for one epoch (the
micro test world does). Because training takes any activations tensor, the same function
retrains a probe on activations a SHIFT ablation has modified.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from probes.config import ProbeConfig
from ssae.errors import CheckpointError, ConfigError
from ssae.io import atomic_path


class LinearProbe(nn.Module):
    """`Linear(d, 1)`; `forward` returns one logit per example."""

    def __init__(self, d: int):
        super().__init__()
        self.net = nn.Linear(d, 1, bias=True)

    @property
    def d(self) -> int:
        return self.net.in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Hard labels (logit > 0) as long."""
        w = self.net.weight
        return (self(x.to(device=w.device, dtype=w.dtype)) > 0).long().cpu()


def train_probe(
    acts: torch.Tensor,
    labels: torch.Tensor,
    config: ProbeConfig | None = None,
    init: LinearProbe | None = None,
) -> LinearProbe:
    """Train a probe on pooled activations `acts` [n, d] with 0/1 `labels` [n].

    `init` warm-starts from an existing probe (copied, not modified); by default the probe is
    freshly initialised under `config.seed`.
    """
    config = config or ProbeConfig()
    if acts.ndim != 2 or labels.shape != (acts.shape[0],):
        raise ConfigError(
            f"need acts [n, d] and labels [n]; got {tuple(acts.shape)}, {tuple(labels.shape)}"
        )
    if acts.shape[0] == 0:
        raise ConfigError("cannot train a probe on zero examples")
    torch.manual_seed(config.seed)
    probe = LinearProbe(acts.shape[1])
    if init is not None:
        probe.load_state_dict(init.state_dict())
    probe.to(config.device)
    x = acts.to(config.device, torch.float32)
    y = labels.to(config.device, torch.float32)
    opt = torch.optim.AdamW(probe.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(config.seed)
    for _ in range(n_epochs(len(x), config)):
        order = torch.randperm(len(x), generator=gen) if config.shuffle else torch.arange(len(x))
        for start in range(0, len(x), config.batch_size):
            rows = order[start : start + config.batch_size].to(config.device)
            loss = loss_fn(probe(x[rows]), y[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return probe.cpu().eval()  # probes are tiny; they serve CPU-side activations


def n_epochs(n: int, config: ProbeConfig) -> int:
    """`config.epochs`, raised so that at least `config.min_steps` steps are taken."""
    per_epoch = math.ceil(n / config.batch_size)
    return max(config.epochs, math.ceil(config.min_steps / per_epoch))


retrain_probe = train_probe
"""Alias: retraining on SHIFT-modified activations is training on those activations."""


@torch.no_grad()
def accuracy(probe: LinearProbe, acts: torch.Tensor, labels: torch.Tensor) -> float:
    return (
        float((probe.predict(acts) == labels.cpu()).float().mean()) if len(labels) else float("nan")
    )


def save_probe(probe: LinearProbe, path: str | os.PathLike, **metadata: object) -> None:
    """Weights as safetensors (`net.weight`, `net.bias`) with string metadata."""
    meta = {"d": str(probe.d), **{k: str(v) for k, v in metadata.items()}}
    state = {k: v.detach().cpu().contiguous() for k, v in probe.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_probe(path: str | os.PathLike) -> LinearProbe:
    try:
        state = load_file(str(path))
        probe = LinearProbe(state["net.weight"].shape[1])
        probe.load_state_dict(state)
    except Exception as e:  # missing file, wrong keys, truncated: same fix
        raise CheckpointError(
            f"{path} is not a probe checkpoint (expected net.weight [1, d] and "
            f"net.bias in safetensors); delete it to retrain"
        ) from e
    return probe.eval()


def config_dict(config: ProbeConfig) -> dict:
    return asdict(config)
