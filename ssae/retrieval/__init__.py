"""Subdomain data selection for SSAEs: dense retrieval, BM25 and TracIn reranking.

Muhamed et al. 2024 (arXiv 2411.00743) expand a few seed examples into millions of subdomain tokens
from the model's pretraining corpus, then finetune general SAEs on them. Entry point: `retrieve`.

The names below are imported on first use (`ssae.lazy`): `import ssae.retrieval.config` stays
light.
"""

from ssae.lazy import lazy_exports

EXPORTS = {
    "Corpus": "ssae.retrieval.corpus",
    "PreparedCorpus": "ssae.retrieval.corpus",
    "load_corpus": "ssae.retrieval.corpus",
    "prepare_corpus": "ssae.retrieval.corpus",
    "compare_methods": "ssae.retrieval.evaluate",
    "precision_table": "ssae.retrieval.evaluate",
    "render_precision_table": "ssae.retrieval.evaluate",
    "METHODS": "ssae.retrieval.config",
    "RetrievalConfig": "ssae.retrieval.config",
    "RetrievalResult": "ssae.retrieval.pipeline",
    "clean_seeds": "ssae.retrieval.pipeline",
    "retrieve": "ssae.retrieval.pipeline",
    "read_seed_file": "ssae.retrieval.seeds",
}
"""Name -> the module that defines it."""

__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
__all__ = sorted(EXPORTS)
