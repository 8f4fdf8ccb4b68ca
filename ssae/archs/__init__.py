"""SAE architectures, one module each, registered by name.

Each module defines one dictionary class with its encode and decode, its training loss (the
sparsity mechanism included), what it does after a step, how it is cut to its first features
(`slice`, the compressed methods), and its class name on disk (`dict_class`, the name
dictionary_learning writes in config.json). The trainer (`ssae.trainer`) and the pipeline's stages
know no architecture by name: they go through `ARCHS` and the `TrainableDictionary` interface
(`ssae.archs.base`). Adding an architecture is one module here plus one entry in `ARCHS`.

| name | module | on disk | sparsity |
|---|---|---|---|
| relu | relu | AutoEncoder | L1 coefficient (FitConfig.l1) |
| random-decoder | relu | AutoEncoder | L1, decoder frozen at random unit directions |
| topk | topk | AutoEncoderTopK | k per token |
| batchtopk | batchtopk | BatchTopKSAE | k per token on average over the batch |
| jumprelu | jumprelu | JumpReluAutoEncoder | L0 target (ArchConfig.target_l0) |
| matryoshka | matryoshka | MatryoshkaBatchTopKSAE | k, nested prefixes |
| ortsae | ortsae | BatchTopKSAE | k, plus the orthogonality penalty |
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ssae.arch_config import ARCH_NAMES, TOPK_FAMILY, ArchConfig
from ssae.archs.base import TrainableDictionary
from ssae.archs.batchtopk import BatchTopKSAE
from ssae.archs.jumprelu import JumpReLUAutoEncoder
from ssae.archs.matryoshka import MatryoshkaBatchTopKSAE
from ssae.archs.ortsae import OrtSAE
from ssae.archs.relu import AutoEncoder, RandomDecoderAutoEncoder
from ssae.archs.topk import TopKAutoEncoder
from ssae.dictionary import Dictionary
from ssae.errors import ToolkitError

ARCHS: dict[str, type[TrainableDictionary]] = {
    cls.arch: cls
    for cls in (
        AutoEncoder,
        RandomDecoderAutoEncoder,
        TopKAutoEncoder,
        BatchTopKSAE,
        JumpReLUAutoEncoder,
        MatryoshkaBatchTopKSAE,
        OrtSAE,
    )
}
"""Architecture name -> its dictionary class."""
assert tuple(ARCHS) == ARCH_NAMES

__all__ = [
    "ARCHS",
    "ARCH_NAMES",
    "TOPK_FAMILY",
    "ArchConfig",
    "AutoEncoder",
    "BatchTopKSAE",
    "JumpReLUAutoEncoder",
    "MatryoshkaBatchTopKSAE",
    "OrtSAE",
    "RandomDecoderAutoEncoder",
    "TopKAutoEncoder",
    "TrainableDictionary",
    "for_training",
    "new_dictionary",
]


def new_dictionary(d: int, n: int, arch: ArchConfig, generator: torch.Generator):
    """A fresh dictionary of architecture `arch`, initialised from `generator` only."""
    return ARCHS[arch.name].create(d, n, arch, generator)


def for_training(ae: Dictionary, arch: ArchConfig | None) -> TrainableDictionary:
    """`ae` as a dictionary of architecture `arch` (None: its own), for training.

    Two architectures share a class on disk with another: a random-decoder SAE is saved as an
    `AutoEncoder`, an OrtSAE as a `BatchTopKSAE`; a loaded one is turned back into its architecture
    here (same weights). Any other mismatch is a one-line error."""
    if not isinstance(ae, TrainableDictionary):
        raise ToolkitError(
            f"a {type(ae).__name__} cannot be trained or finetuned; trainable architectures: "
            f"{', '.join(ARCHS)}"
        )
    if arch is None or type(ae).arch == arch.name:
        return ae
    cls = ARCHS[arch.name]
    if cls.dict_class != ae.dict_class:
        raise ToolkitError(
            f"cannot train a {ae.dict_class} dictionary as a {arch.name} SAE; give the "
            f"architecture it was trained with ({type(ae).arch})"
        )
    shape = replace(arch, k=int(ae.k)) if arch.name in TOPK_FAMILY else arch
    out = cls.create(ae.activation_dim, ae.dict_size, shape, torch.Generator().manual_seed(0))
    out.load_state_dict(ae.state_dict())
    return out.to(next(ae.parameters()))
