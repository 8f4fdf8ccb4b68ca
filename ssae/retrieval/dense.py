"""FAISS index over document embeddings, built once per (prepared corpus, embedder) and reused.

Small corpora get `IndexFlatIP` (exact inner product: with unit vectors, exact cosine similarity);
corpora of at least `ivf_min_docs` documents get `IndexIVFFlat` (k-means into ~4 sqrt(n) lists,
`nprobe` lists visited per query), which trades a little recall for sub-linear search. Every
candidate a search returns is re-scored exactly from its stored vector (`reconstruct`), so scores
are exact in both cases; only the candidate set of IVF is approximate.

On disk (one folder per cache key): `index.faiss`, `ids.json` (the document id of every row, in
index order) and `meta.json`. Embeddings are computed in shards that are saved as they finish, so an
interrupted build resumes where it stopped. A shard is cached under a key of its texts' content and
the embedder (`corpus_embeddings`), not of the corpus's path: another process can embed a corpus
before it is in its final place (the tiny world's corpus, beside the training of its LM) and the
index build then only reads the shards.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import faiss
import numpy as np
from filelock import FileLock

from ssae.errors import ConfigError, DataError
from ssae.io import atomic_dir, atomic_path, shift_home, stable_hash
from ssae.retrieval.corpus import cached_index


class DenseIndex:
    """A FAISS inner-product index whose row k is document k of a prepared corpus."""

    def __init__(self, index: faiss.Index, doc_ids: list[str], kind: str):
        self.index = index
        self.doc_ids = doc_ids
        self.kind = kind
        if kind == "ivf":
            self.index.make_direct_map()  # needed by reconstruct_batch

    def __len__(self) -> int:
        return self.index.ntotal

    @property
    def dim(self) -> int:
        return self.index.d

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        doc_ids: list[str],
        ivf_min_docs: int = 1_000_000,
        nlist: int | None = None,
        nprobe: int | None = None,
        seed: int = 0,
    ) -> DenseIndex:
        """Flat index below `ivf_min_docs` vectors, IVF above (see module docstring)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, d = vectors.shape
        if n != len(doc_ids):
            raise ConfigError("one document id per vector is needed")
        if n < ivf_min_docs:
            index = faiss.IndexFlatIP(d)
            index.add(vectors)
            return cls(index, doc_ids, "flat")
        nlist = nlist or max(1, int(4 * math.sqrt(n)))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        # k-means needs ~40 points per centroid; more only costs time.
        rng = np.random.default_rng(seed)
        sample = vectors[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
        index.train(sample)
        index.add(vectors)
        index.nprobe = nprobe or max(1, nlist // 8)
        return cls(index, doc_ids, "ivf")

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rows) per query; rows are -1 where fewer than k documents exist."""
        k = min(k, len(self))
        q = np.ascontiguousarray(queries, dtype=np.float32)
        return self.index.search(q, k)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.index.reconstruct_batch(np.asarray(rows, dtype=np.int64))

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        with atomic_dir(path) as tmp:
            faiss.write_index(self.index, str(tmp / "index.faiss"))
            (tmp / "ids.json").write_text(json.dumps(self.doc_ids))
            meta = {"kind": self.kind, "n": len(self), "dim": self.dim}
            (tmp / "meta.json").write_text(json.dumps(meta))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> DenseIndex:
        path = Path(path)
        try:
            index = faiss.read_index(str(path / "index.faiss"))
            ids = json.loads((path / "ids.json").read_text())
            meta = json.loads((path / "meta.json").read_text())
        except Exception as e:  # faiss raises RuntimeError, json ValueError, os OSError
            raise DataError(f"dense index {path} is unreadable ({e}); delete it to rebuild") from e
        return cls(index, ids, meta["kind"])


SHARD_SIZE = 50_000  # documents per embedding shard


def dense_index_for(
    prepared,
    embedder,
    cache_dir: str | os.PathLike | None = None,
    shard_size: int = SHARD_SIZE,
    ivf_min_docs: int = 1_000_000,
) -> DenseIndex:
    """Load the cached index of `prepared` under `embedder`, or build and cache it (resumable)."""
    key = stable_hash([prepared.key, embedder.key, ivf_min_docs])
    cache = Path(cache_dir or shift_home() / "retrieval")
    root = cache / "dense" / key
    doc_ids = [prepared.doc_id(k) for k in range(len(prepared))]
    cached = cached_index(root / "index.faiss", DenseIndex.load, doc_ids)
    if cached is not None:
        return cached
    # Runs sharing a cache (a bench beside a study) would each embed the whole corpus: the
    # second waits for the first and loads its index.
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock", thread_local=False):
        cached = cached_index(root / "index.faiss", DenseIndex.load, doc_ids)
        if cached is None:
            vectors, shards = corpus_embeddings(prepared.texts(), embedder, cache, shard_size)
            cached = DenseIndex.build(vectors, doc_ids, ivf_min_docs=ivf_min_docs)
            cached.save(root)
            for shard in shards:  # the index holds the vectors now
                shard.unlink(missing_ok=True)
    return cached


def corpus_embeddings(
    texts: list[str],
    embedder,
    cache_dir: str | os.PathLike,
    shard_size: int = SHARD_SIZE,
    progress: bool = True,
) -> tuple[np.ndarray, list[Path]]:
    """Embeddings of `texts` [n, dim] and the shard files they were read from.

    Each shard of `shard_size` texts is embedded once and saved under `cache_dir/embeddings/` by
    a key of its content and the embedder; a process that needs a shard another one is embedding
    waits for it (file lock) instead of embedding it again."""
    folder = Path(cache_dir) / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    parts, files = [], []
    for start in range(0, len(texts), shard_size):
        chunk = texts[start : start + shard_size]
        digest = hashlib.sha256("\0".join(chunk).encode()).hexdigest()
        shard = folder / f"{stable_hash([embedder.key, digest, len(chunk)])}.npy"
        with FileLock(str(shard) + ".lock", thread_local=False):
            if shard.exists():
                vecs = np.load(shard)
            else:
                vecs = embedder.embed(chunk, progress=progress)
                with atomic_path(shard) as tmp, open(tmp, "wb") as fh:
                    np.save(fh, vecs)
        parts.append(vecs)
        files.append(shard)
    return np.concatenate(parts), files
