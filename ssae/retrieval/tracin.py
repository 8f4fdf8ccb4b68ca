"""TracIn reranking of retrieved documents with the gradient of a pretrained SAE's loss.

TracIn (Pruthi et al. 2020) scores a training example z by how much a gradient step on z would
lower the loss on the target set: <grad L(z), grad L(seeds)> at the current weights. The SSAE paper
(Muhamed et al. 2024, Sec. 3.1) uses it with the loss of the pretrained SAE one is about to
finetune, so a candidate document ranks high when finetuning on it moves the SAE the way finetuning
on the seeds would.

SAE (ssae.dictionary.AutoEncoder) at one submodule, for a token activation x [d]:

    x~ = x - b_dec,  p = W_enc x~ + b_enc,  f = ReLU(p),  x^ = W_dec f + b_dec,  r = x^ - x,
    L(x) = ||r||^2 + lambda * ||f||_1 .

Per-token gradient (with delta = (2 W_dec^T r + lambda) * 1[p > 0], the gradient w.r.t. p):

    dL/dW_dec = 2 r f^T,   dL/dW_enc = delta x~^T,   dL/db_enc = delta,
    dL/db_dec = 2 r - W_enc^T delta .

A document's loss is summed over its tokens i, and G = (G_Wdec, G_Wenc, G_benc, G_bdec) is the
gradient of the seed set's summed loss, materialised once (autograd). The score of a document is

    <grad L(doc), G> = sum_i [ 2 r_i^T G_Wdec f_i + delta_i^T (G_Wenc x~_i + G_benc - W_enc G_bdec)
                               + 2 r_i^T G_bdec ],

which needs only per-token vectors of size d and n: for a batch of T tokens it costs three
[T, d] x [d, 2n]-sized matrix products (the SAE forward plus R [G_Wdec | W_dec] and
X~ G_Wenc^T) and never forms the d x n gradient of any document. `explicit_scores` is the
reference the tests compare against: one autograd backward per document and a dot product with
the flattened G.

Activations come from the model via `SubmoduleSpec.read` inside an nnsight trace that stops right
after the submodule (later layers are not computed); padding positions are dropped. SAEs trained by
ssae.train were trained on x / s (`trainer.activation_scale` in config.json); the loss above is
then taken in that space (x / s, biases / s), the one finetuning will optimise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ssae.archs import AutoEncoder
from ssae.errors import CheckpointError


@dataclass
class SAEGradient:
    """Gradient of a summed SAE loss, in the AutoEncoder's parameter layout."""

    W_enc: torch.Tensor
    """[n, d] (encoder.weight)"""
    b_enc: torch.Tensor
    """[n] (encoder.bias)"""
    W_dec: torch.Tensor
    """[d, n] (decoder.weight)"""
    b_dec: torch.Tensor
    """[d] (bias)"""

    def flat(self) -> torch.Tensor:
        return torch.cat([t.reshape(-1) for t in (self.W_enc, self.b_enc, self.W_dec, self.b_dec)])


def sae_loss(ae: AutoEncoder, x: torch.Tensor, l1: float) -> torch.Tensor:
    """Per-token loss ||x - x^||^2 + lambda ||f||_1, shape x.shape[:-1]."""
    x_hat, f = ae(x, output_features=True)
    return (x - x_hat).pow(2).sum(-1) + l1 * f.abs().sum(-1)


def loss_gradient(ae: AutoEncoder, x: torch.Tensor, l1: float) -> SAEGradient:
    """Gradient of the loss summed over all tokens x [T, d] w.r.t. the SAE parameters."""
    params = [ae.encoder.weight, ae.encoder.bias, ae.decoder.weight, ae.bias]
    with torch.enable_grad():
        loss = sae_loss(ae, x, l1).sum()
        grads = torch.autograd.grad(loss, params)
    return SAEGradient(*[g.detach() for g in grads])


@torch.no_grad()
def factored_scores(
    ae: AutoEncoder,
    G: SAEGradient,
    x: torch.Tensor,
    doc_index: torch.Tensor,
    n_docs: int,
    l1: float,
) -> torch.Tensor:
    """<grad L(doc), G> for every doc, from token activations x [T, d] (see module docstring).

    `doc_index` [T] says which document (0..n_docs-1) each token belongs to."""
    W_enc, b_enc = ae.encoder.weight, ae.encoder.bias
    W_dec, b_dec = ae.decoder.weight, ae.bias
    n = W_enc.shape[0]
    xt = x - b_dec
    p = xt @ W_enc.T + b_enc
    f = torch.relu(p)
    r = f @ W_dec.T + b_dec - x
    # One product gives both G_Wdec^T r (for the decoder term) and W_dec^T r (for delta).
    rg = r @ torch.cat([G.W_dec, W_dec], dim=1)
    r_gdec, r_wdec = rg[:, :n], rg[:, n:]
    delta = (2 * r_wdec + l1) * (p > 0)
    enc_side = xt @ G.W_enc.T + (G.b_enc - W_enc @ G.b_dec)
    per_token = 2 * (r_gdec * f).sum(-1) + (delta * enc_side).sum(-1) + 2 * (r @ G.b_dec)
    out = torch.zeros(n_docs, dtype=per_token.dtype, device=x.device)
    return out.index_add_(0, doc_index, per_token)


def explicit_scores(
    ae: AutoEncoder, G: SAEGradient, docs: list[torch.Tensor], l1: float
) -> torch.Tensor:
    """Reference: one autograd gradient per document [T_k, d], dotted with the flattened G."""
    g_flat = G.flat()
    return torch.stack([loss_gradient(ae, x, l1).flat() @ g_flat for x in docs])


def submodule_activations(
    lm, spec, batches, progress: bool = True, desc: str = "activations", scale: float = 1.0
):
    """Yield (doc positions, x [T, d], doc_index [T]) per batch of token rows.

    `batches` yields (positions, input_ids [B, L], attention_mask [B, L]); x holds the submodule's
    activation (divided by `scale`) at every real (non-pad) token, `doc_index` the batch row each
    token came from."""
    for positions, ids, mask in tqdm(batches, desc=desc, unit="batch", disable=not progress):
        ids, mask = ids.to(lm.device), mask.to(lm.device)
        box = {}
        with torch.no_grad(), lm.nn.trace(input_ids=ids, attention_mask=mask) as tracer:
            box["x"] = spec.read(lm.nn)
            tracer.stop()  # nothing after this submodule is needed
        keep = mask.bool()
        rows = torch.arange(ids.shape[0], device=ids.device)[:, None].expand_as(ids)
        yield positions, box["x"][keep].float() / scale, rows[keep]


def token_batches(token_lists: list[np.ndarray], pad_id: int, batch_docs: int = 32):
    """Batches of (positions, input_ids, attention_mask), documents sorted by length."""
    order = np.argsort([len(t) for t in token_lists], kind="stable")
    for start in range(0, len(order), batch_docs):
        pos = order[start : start + batch_docs]
        width = max(len(token_lists[i]) for i in pos)
        ids = torch.full((len(pos), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(pos), width), dtype=torch.long)
        for j, i in enumerate(pos):
            t = torch.as_tensor(np.asarray(token_lists[i], dtype=np.int64))
            ids[j, : len(t)] = t
            mask[j, : len(t)] = 1
        yield pos, ids, mask


def seed_gradient(
    lm,
    spec,
    ae: AutoEncoder,
    seed_tokens: list[np.ndarray],
    pad_id: int,
    l1: float,
    scale: float = 1.0,
) -> SAEGradient:
    """G: gradient of the SAE loss summed over every token of every seed."""
    total = None
    batches = token_batches(seed_tokens, pad_id)
    for _, x, _ in submodule_activations(lm, spec, batches, progress=False, scale=scale):
        g = loss_gradient(ae, x, l1)
        total = g if total is None else SAEGradient(*(a + b for a, b in zip(_t(total), _t(g))))
    return total


def tracin_scores(
    lm,
    spec,
    ae: AutoEncoder,
    G: SAEGradient,
    token_lists: list[np.ndarray],
    pad_id: int,
    l1: float,
    batch_docs: int = 32,
    scale: float = 1.0,
) -> np.ndarray:
    """TracIn score of every document in `token_lists` (float64 [len(token_lists)])."""
    ae = ae.to(lm.device)
    out = np.zeros(len(token_lists), dtype=np.float64)
    batches = token_batches(token_lists, pad_id, batch_docs)
    for pos, x, rows in submodule_activations(lm, spec, batches, desc="TracIn scores", scale=scale):
        out[pos] = factored_scores(ae, G, x, rows, len(pos), l1).double().cpu().numpy()
    return out


def _t(g: SAEGradient) -> tuple:
    return (g.W_enc, g.b_enc, g.W_dec, g.b_dec)


def find_sae(saes: str | os.PathLike, submodule: str) -> Path:
    """The `ae.pt` of `submodule` in a dictionary_learning folder (`DIR/<sub>/[<run>/]ae.pt`),
    or `saes` itself when it is an ae.pt or a folder holding one."""
    root = Path(saes)
    if root.is_file():
        return root
    if (root / "ae.pt").exists():
        return root / "ae.pt"
    found = sorted((root / submodule).glob("ae.pt")) + sorted((root / submodule).glob("*/ae.pt"))
    if not found:
        have = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise CheckpointError(
            f"no SAE for submodule {submodule!r} in {root} (expected {root}/{submodule}/ae.pt or "
            f"{root}/{submodule}/<run>/ae.pt; folders there: {have[:8]})"
        )
    if len(found) > 1:
        raise CheckpointError(
            f"several SAEs for {submodule!r} in {root}: {[str(p) for p in found]}; pass one ae.pt"
        )
    return found[0]


def available_submodules(saes: str | os.PathLike) -> list[str]:
    """Names of the submodule folders of a dictionary_learning SAE folder that hold an ae.pt."""
    root = Path(saes)
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and (any(p.glob("ae.pt")) or any(p.glob("*/ae.pt")))
    )


def load_autoencoder(path: str | os.PathLike, d_model: int | None = None):
    """(AutoEncoder in the space it was trained in, l1 or None, activation scale s).

    SAEs trained by ssae.train read raw activations but were trained on x / s (config.json
    `trainer.activation_scale`); TracIn differentiates the training loss, so the dictionary is
    moved back into that space (biases / s) and activations are divided by s before scoring.
    Other dictionaries (e.g. Marks et al.'s) have s = 1."""
    from ssae.formats import load_dictionary, read_config

    path = Path(path)
    ae = load_dictionary(path, activation_dim=d_model, where="TracIn")
    if not isinstance(ae, AutoEncoder):
        raise CheckpointError(
            f"{path}: TracIn scores ReLU AutoEncoders only (got {type(ae).__name__})"
        )
    trainer = read_config(path.parent if path.is_file() else path).get("trainer", {})
    l1 = trainer.get("l1_penalty")
    scale = float(trainer.get("activation_scale") or 1.0)
    if scale != 1.0:
        with torch.no_grad():
            ae.scale_biases(1.0 / scale)
    return ae.eval(), (float(l1) if l1 is not None else None), scale
