"""Helpers of the circuits tests: a tiny random GPTNeoX in float64, random SAEs, batches."""

from __future__ import annotations

import torch

from ssae.archs import AutoEncoder
from ssae.models import LoadedModel
from ssae.tokens import TokenDataset
from tests.conftest import make_gpt_neox


class CharTokenizer:
    """Enough of a tokenizer for annotation tests: token i decodes to `t{i} `."""

    pad_token_id = 0

    def decode(self, ids):
        return "".join(f"t{int(i)} " for i in ids)


def make_tiny_lm(layers: int = 3, d: int = 16, vocab: int = 50, seed: int = 0) -> LoadedModel:
    return make_gpt_neox(
        CharTokenizer(),
        seed=seed,
        dtype=torch.float64,
        name="tiny",
        hidden=d,
        layers=layers,
        vocab=vocab,
        max_position_embeddings=64,
    )


def make_saes(lm: LoadedModel, names: list[str], width: int = 24, seed: int = 0) -> dict:
    """Random AutoEncoders with non-zero biases (so decode(0) != 0), in float64."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name in names:
        sae = AutoEncoder(lm.d_model, width, init_scale=0.5).double()
        with torch.no_grad():
            w = torch.randn(lm.d_model, width, generator=g, dtype=torch.float64)
            sae.decoder.weight.copy_(w / w.norm(dim=0, keepdim=True))
            sae.encoder.weight.copy_(0.5 * sae.decoder.weight.T)
            sae.encoder.bias.copy_(0.05 * torch.randn(width, generator=g, dtype=torch.float64))
            sae.bias.copy_(0.1 * torch.randn(lm.d_model, generator=g, dtype=torch.float64))
        out[name] = sae
    return out


def make_batch(b: int = 3, t: int = 6, vocab: int = 50, seed: int = 0, pad_first: int = 2) -> dict:
    """Random ids, the first row right-padded by `pad_first`, with labels, answers and a patch."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.long)
    if pad_first:
        mask[0, t - pad_first :] = 0
        ids[0, t - pad_first :] = 0
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "patch_input_ids": torch.randint(1, vocab, (b, t), generator=g) * mask,
        "patch_attention_mask": mask.clone(),
        "labels": torch.arange(b) % 2,
        "correct_id": torch.randint(1, vocab, (b,), generator=g),
        "incorrect_id": torch.randint(1, vocab, (b,), generator=g),
    }


def fit_random_saes(lm: LoadedModel, names: list[str], batch: dict, width: int, seed: int = 0):
    """Random ReLU AutoEncoders made to reconstruct `batch`'s activations decently (FVU ~0.3).

    Decoder directions are random unit vectors and the encoder their transpose; the decoder bias
    is the mean activation and one encoder scale is fitted by least squares, so features fire
    on about half the tokens and the error node carries the rest.
    """
    from circuits.states import encode_states
    from ssae.dictionary import IdentityDictionary

    specs = [s for s in lm.submodules() if s.name in names]
    ident = {n: IdentityDictionary(lm.d_model) for n in names}
    states, _ = encode_states(lm, ident, specs, batch)
    mask = batch["attention_mask"].bool()
    gen = torch.random.get_rng_state()
    saes, fvu = {}, {}
    try:
        for i, name in enumerate(names):
            torch.manual_seed(seed * 1000 + i)
            x = states[name].f[mask]
            sae = AutoEncoder(lm.d_model, width, init_scale=1.0)
            with torch.no_grad():
                sae.bias.copy_(x.mean(0))
                xh = sae.decoder(sae.encode(x))
                sae.encoder.weight.mul_((xh * (x - sae.bias)).sum() / (xh * xh).sum())
                fvu[name] = float((sae(x) - x).pow(2).sum() / (x - x.mean(0)).pow(2).sum())
            saes[name] = sae
    finally:
        torch.random.set_rng_state(gen)
    return saes, fvu


def random_tokens(n: int = 7, ctx: int = 8, vocab: int = 50, seed: int = 0, source: str = ""):
    """A token dataset of random ids, each row right-padded after 3..ctx real tokens."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (n, ctx), generator=g, dtype=torch.int32)
    lengths = torch.randint(3, ctx + 1, (n,), generator=g, dtype=torch.int32)
    for i in range(n):
        ids[i, lengths[i] :] = 0
    return TokenDataset(ids, lengths, pad_id=0, source=source)
