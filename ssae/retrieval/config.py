"""How subdomain data is selected, as settings only (no numpy or torch): `RetrievalConfig`, read
by `ssae.retrieval.pipeline.retrieve` (see its docstring for the methods).

A module of its own so that a command line can build its options and check its values from
this class without importing the retrieval stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from ssae.errors import ToolkitError

MERGES = ("max", "mean")
"""How per-seed scores merge into one score per document (`ssae.retrieval.select`)."""

Method = Literal["dense", "bm25", "dense+tracin", "bm25+tracin", "random"]
METHODS: tuple[str, ...] = get_args(Method)


@dataclass
class RetrievalConfig:
    """How to select subdomain data; defaults follow the SSAE paper's Bias in Bios run."""

    method: Method = "dense"
    """First-stage retrieval (dense or BM25), optionally reranked by TracIn."""
    budget_tokens: int = 8_000_000
    """Stop once the selected documents hold this many model tokens (paper: 8M)."""
    ctx_len: int = 128
    """Each corpus document is cut to its first ctx_len model tokens (paper: 128)."""
    n_seeds: int = 5
    """Use the first n_seeds seed texts (paper: 5)."""
    merge: Literal["auto", "mean", "max"] = "auto"
    """How per-seed scores become one score per document: mean or max over seeds; auto is mean
    for dense and max for bm25 (see ssae.retrieval.select for the measurements behind it)."""
    threshold: float | None = None
    """Keep only documents whose merged first-stage score is >= this (cosine for dense, BM25
    normalised by each seed's best match for bm25); None keeps all."""
    embedder: str = "minilm"
    """Dense embedder: minilm (offline), contriever (paper), or any HF encoder id or path."""
    embed_max_length: int = 128
    """Embedder tokens per document."""
    embed_batch_size: int = 256
    """Documents per embedding batch."""
    embed_dtype: str = "auto"
    """Embedder precision: auto (bfloat16 where the hardware has it, else float32), float32..."""
    ivf_min_docs: int = 1_000_000
    """Corpora with at least this many documents get an IVF index instead of an exact flat one."""
    bm25_k1: float = 1.5
    """BM25 term-frequency saturation."""
    bm25_b: float = 0.75
    """BM25 length normalisation."""
    tracin_pool: float = 4.0
    """TracIn candidates: the first-stage documents holding tracin_pool x budget tokens."""
    tracin_submodule: str | None = None
    """Submodule whose SAE scores candidates; None picks the SAE folder's residual layer nearest
    the model's middle."""
    tracin_l1: float | None = None
    """L1 coefficient lambda of the SAE loss; None reads trainer.l1_penalty from the SAE's
    config.json, else 0.1 (the SSAE paper's finetuning L1)."""
    tracin_batch_docs: int = 32
    """Documents per model forward pass when scoring candidates."""
    top_documents: int = 20
    """Documents listed in the report."""
    cache_dir: str | None = None
    """Index cache; default $SHIFT_HOME/retrieval."""

    def __post_init__(self):
        if self.method not in METHODS:
            raise ToolkitError(f"unknown retrieval method {self.method!r}; choose from {METHODS}")
        if self.merge not in (*MERGES, "auto"):
            raise ToolkitError(f"unknown merge {self.merge!r}; choose from {(*MERGES, 'auto')}")
        if self.budget_tokens < 1:
            raise ToolkitError("the token budget must be a positive number of tokens")
        if self.ctx_len < 1 or self.n_seeds < 1:
            raise ToolkitError("ctx_len and n_seeds must be >= 1")
        if self.embed_max_length < 8:
            raise ToolkitError("embed_max_length must be >= 8 tokens")
        if self.tracin_pool < 1:
            raise ToolkitError("tracin_pool must be >= 1 (the candidates must hold the budget)")

    @property
    def first_stage(self) -> str:
        return self.method.split("+")[0]

    @property
    def merge_rule(self) -> str:
        if self.merge != "auto":
            return self.merge
        return "mean" if self.first_stage == "dense" else "max"

    @property
    def uses_tracin(self) -> bool:
        return self.method.endswith("+tracin")
