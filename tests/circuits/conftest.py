"""Fixtures for the circuits tests: a tiny random GPTNeoX in float64 with random SAEs."""

from __future__ import annotations

import pytest

from ssae.models import LoadedModel
from tests.circuits.circuit_helpers import make_saes, make_tiny_lm


@pytest.fixture(scope="module")
def tiny_lm() -> LoadedModel:
    return make_tiny_lm()


@pytest.fixture(scope="module")
def tiny_names(tiny_lm) -> list[str]:
    """embed and attn/mlp/resid of layers 0 and 1 (layer 2 has no SAE)."""
    return [s.name for s in tiny_lm.submodules(layers=[0, 1])]


@pytest.fixture(scope="module")
def tiny_saes(tiny_lm, tiny_names) -> dict:
    return make_saes(tiny_lm, tiny_names)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread. On a shared 2-core machine two OpenMP threads wait on
    each other at every op (10x slower here). Module scope, so that it also covers the
    module-scoped fixtures (autouse fixtures of a scope are set up first)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
