"""Subdomain data selection for SSAEs: dense retrieval, BM25 and TracIn reranking.

Muhamed et al. 2024 (arXiv 2411.00743) expand a few seed examples into millions of subdomain tokens
from the model's pretraining corpus, then finetune general SAEs on them. Entry point: `retrieve`.
"""

from ssae.retrieval.corpus import Corpus, PreparedCorpus, load_corpus, prepare_corpus
from ssae.retrieval.evaluate import compare_methods, precision_table, render_precision_table
from ssae.retrieval.pipeline import (
    METHODS,
    RetrievalConfig,
    RetrievalResult,
    clean_seeds,
    retrieve,
)
from ssae.retrieval.seeds import read_seed_file

__all__ = [
    "METHODS",
    "Corpus",
    "PreparedCorpus",
    "RetrievalConfig",
    "RetrievalResult",
    "clean_seeds",
    "compare_methods",
    "load_corpus",
    "precision_table",
    "prepare_corpus",
    "read_seed_file",
    "render_precision_table",
    "retrieve",
]
