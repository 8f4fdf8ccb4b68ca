"""Training and evaluating the tiny world's Pythia-architecture causal language model.

Training minimises the next-token cross-entropy
    L = -(1/T) sum_t log p_theta(x_{t+1} | x_{<=t})
over the corpus packed Pythia-style: documents joined with `<|endoftext|>` into one token stream
cut into rows of `ctx_len` tokens. AdamW with linear warmup and cosine decay to `min_lr_ratio`.

Evaluation reports the same cross-entropy (nats/token) on held-out documents, each scored on its
own (first `ctx_len` tokens, as downstream stages read documents), next to a unigram baseline
    CE_uni = -(1/T) sum_t log q(x_t),   q(v) = (c_v + 1) / (N + V)
fitted on the training tokens (add-one smoothing so every token has mass), over the same targets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

from shift.world.config import ModelConfig, TrainConfig


def make_model(cfg: ModelConfig, vocab_size: int, eos_id: int) -> GPTNeoXForCausalLM:
    """A freshly initialised GPTNeoX with Pythia's choices (partial rotary, parallel residual)."""
    config = GPTNeoXConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        rotary_pct=0.25,
        max_position_embeddings=2048,
        use_parallel_residual=True,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        tie_word_embeddings=False,
    )
    return GPTNeoXForCausalLM(config)


def pack(token_docs: Sequence[Sequence[int]], eos_id: int, ctx_len: int) -> torch.Tensor:
    """Join documents with eos and cut the stream into full rows [n_rows, ctx_len]."""
    stream = [t for doc in token_docs for t in (*doc, eos_id)]
    n = len(stream) // ctx_len
    return torch.tensor(stream[: n * ctx_len], dtype=torch.long).view(n, ctx_len)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warmup to cfg.lr, then cosine decay to cfg.lr * min_lr_ratio."""
    warm = max(1, int(cfg.warmup_frac * total))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)


def train(
    model: GPTNeoXForCausalLM, rows: torch.Tensor, cfg: TrainConfig, seed: int, desc: str = "LM"
) -> list[float]:
    """Train in place on packed rows; returns the per-step training losses."""
    gen = torch.Generator().manual_seed(seed)
    n_epochs = math.ceil(cfg.epochs)
    order = torch.cat([torch.randperm(len(rows), generator=gen) for _ in range(n_epochs)])
    order = order[: max(1, int(cfg.epochs * len(rows)))]
    batches = order.split(cfg.batch_size)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0},
        ],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )
    model.train()
    losses = []
    bar = tqdm(batches, desc=desc, unit="step", mininterval=1.0)
    for step, idx in enumerate(bar):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, len(batches), cfg)
        x = rows[idx]
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{sum(losses[-10:]) / len(losses[-10:]):.3f}")
    model.eval()
    return losses


@torch.no_grad()
def heldout_ce(
    model: GPTNeoXForCausalLM,
    token_docs: Sequence[Sequence[int]],
    ctx_len: int,
    pad_id: int,
    batch_size: int = 64,
) -> list[tuple[float, int]]:
    """Per document (sum of next-token NLL in nats, number of predicted tokens)."""
    model.eval()
    docs = [list(d[:ctx_len]) for d in token_docs]
    # Batches of similar lengths waste little compute on padding.
    order = sorted(range(len(docs)), key=lambda i: len(docs[i]))
    out: list[tuple[float, int]] = [(0.0, 0)] * len(docs)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(docs[i]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for j, i in enumerate(idx):
            ids[j, : len(docs[i])] = torch.tensor(docs[i])
            mask[j, : len(docs[i])] = 1
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        logp = torch.log_softmax(logits.float(), -1)
        nll = -logp.gather(-1, ids[:, 1:, None])[..., 0] * mask[:, 1:]
        for j, i in enumerate(idx):
            out[i] = (float(nll[j].sum()), len(docs[i]) - 1)
    return out


def unigram_ce(
    train_docs: Sequence[Sequence[int]],
    eval_docs: Sequence[Sequence[int]],
    vocab_size: int,
    ctx_len: int,
) -> list[tuple[float, int]]:
    """Per eval document (sum of -log q(x_t) over the same targets as `heldout_ce`, count)."""
    counts = torch.zeros(vocab_size, dtype=torch.float64)
    for d in train_docs:
        counts += torch.bincount(torch.as_tensor(d, dtype=torch.long), minlength=vocab_size)
    logq = torch.log((counts + 1) / (counts.sum() + vocab_size))
    out = []
    for d in eval_docs:
        targets = torch.as_tensor(list(d[1:ctx_len]), dtype=torch.long)
        out.append((float(-logq[targets].sum()), len(targets)))
    return out
