"""Corpora for subdomain retrieval, each document cut to its first N tokens of the model.

A corpus is a list of documents `(id, text, topic?)` read from
- a local `.jsonl` file (one object per line: `text`, optional `id` and `topic`),
- a local `.parquet` file (columns `text`, optional `id` and `topic`), or
- a Hugging Face dataset id (`owner/name`, optionally `owner/name:config`), streamed with `datasets`
  (field `text`) and materialised once as a jsonl file in the cache, so every later step is the
  same as for a local file.

The SSAE paper (Muhamed et al. 2024, Sec. 3) retrieves over the model's pretraining documents cut to
their first 128 tokens; `prepare_corpus` does that cut with the MODEL's tokenizer (not the
embedder's), keeps the token ids (they become the token dataset, and their count is what the token
budget counts) and the text of exactly those tokens (what the embedder and BM25 see). The prepared
form is cached under a key made of the corpus fingerprint (its content's SHA-256, `ssae.content`),
the tokenizer and N.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ssae.content import content_hash
from ssae.errors import ConfigError, DataError
from ssae.io import atomic_path, read_jsonl, shift_home, stable_hash, write_json

TOKENIZER_FILES = ("tokenizer", "special_tokens_map", "vocab", "merges", "added_tokens")
"""Name prefixes of the files a Hugging Face tokenizer is read from."""


@dataclass
class Corpus:
    """Raw documents of one corpus, in file order."""

    ids: list[str]
    """Document ids (the `id` field, or the line/row number as a string when absent)."""
    texts: list[str]
    """Full document texts."""
    topics: list[str] | None
    """Topic label per document when the corpus has a `topic` field, else None."""
    source: str
    """Where the corpus came from (path or dataset id)."""
    fingerprint: str
    """Cache key of the corpus content: its SHA-256 (`ssae.content`), with the row limit."""

    def __post_init__(self):
        if len(self.ids) != len(self.texts):
            raise ConfigError("ids and texts differ in length")
        if self.topics is not None and len(self.topics) != len(self.texts):
            raise ConfigError("topics and texts differ in length")
        if len(set(self.ids)) != len(self.ids):
            raise DataError(f"corpus {self.source} has duplicate document ids; make `id` unique")

    def __len__(self) -> int:
        return len(self.texts)


def file_fingerprint(path: str | os.PathLike) -> str:
    """Cache key of a file: the SHA-256 of its bytes (computed once per version of the file)."""
    return content_hash(path)


def load_corpus(
    spec: str | os.PathLike,
    max_docs: int | None = None,
    split: str = "train",
    cache_dir: str | os.PathLike | None = None,
) -> Corpus:
    """Load a corpus from a jsonl/parquet path or a Hugging Face dataset id (see module docstring)."""
    path = Path(spec)
    if path.exists():
        if path.is_dir():
            raise DataError(f"corpus {path} is a directory; pass a .jsonl or .parquet file")
        return _load_file(path, max_docs)
    text = str(spec)
    if text.endswith((".jsonl", ".json", ".parquet")) or text.startswith((".", "/", "~")):
        raise DataError(f"corpus file {text} does not exist; pass an existing .jsonl/.parquet file")
    return _load_file(materialise(text, max_docs, split=split, cache_dir=cache_dir), None)


def _load_file(path: Path, max_docs: int | None) -> Corpus:
    if path.suffix == ".parquet":
        rows = _read_parquet(path, max_docs)
    elif path.suffix in (".jsonl", ".json"):
        rows = _read_jsonl(path, max_docs)
    else:
        raise DataError(f"corpus {path} must be a .jsonl or .parquet file (got {path.suffix!r})")
    if not rows:
        raise DataError(f"corpus {path} has no documents")
    has_topic = all("topic" in r and r["topic"] is not None for r in rows)
    fingerprint = file_fingerprint(path)
    if max_docs is not None:
        fingerprint = stable_hash([fingerprint, max_docs])
    return Corpus(
        ids=[
            str(r.get("id", i)) if r.get("id") is not None else str(i) for i, r in enumerate(rows)
        ],
        texts=[r["text"] for r in rows],
        topics=[str(r["topic"]) for r in rows] if has_topic else None,
        source=str(path),
        fingerprint=fingerprint,
    )


def _read_jsonl(path: Path, max_docs: int | None) -> list[dict]:
    return read_jsonl(path, {"text": str}, max_rows=max_docs)


def _read_parquet(path: Path, max_docs: int | None) -> list[dict]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if "text" not in table.column_names:
        raise DataError(f"{path} needs a column 'text' (has {table.column_names})")
    if max_docs is not None:
        table = table.slice(0, max_docs)
    cols = [c for c in ("id", "text", "topic") if c in table.column_names]
    return table.select(cols).to_pylist()


def materialise(
    source: str | os.PathLike,
    max_docs: int | None = None,
    text_field: str = "text",
    where: tuple | None = None,
    split: str = "train",
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """A jsonl file of {"id", "text"} rows from a local file or a hub dataset, written once.

    `text_field` names the text ("a+b" joins fields with a newline; a list-valued field is joined
    with spaces; dots reach into nested fields); `where` keeps rows with field == value, or
    (field, ">=", value) / (field, "<=", value). A local file that needs neither is used as is."""
    path = Path(source)
    if path.exists() and text_field == "text" and not where:
        return path
    key = stable_hash(
        {
            "source": str(source) if not path.exists() else file_fingerprint(path),
            "split": split,
            "max_docs": max_docs,
            "text": text_field,
            "where": list(where or ()),
        }
    )
    out = Path(cache_dir or shift_home() / "retrieval") / "hf_corpora" / f"{key}.jsonl"
    if out.exists():
        return out
    rows, name = _rows_of(source, split)
    keep = _predicate(where)
    fields = text_field.split("+")
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        bar = tqdm(total=max_docs, desc=f"reading {name}", unit="doc")
        n = 0
        for i, row in enumerate(rows):
            if max_docs is not None and n >= max_docs:
                break
            if not keep(row):
                continue
            text = "\n".join(_text(_field(row, f, name)) for f in fields)
            fh.write(json.dumps({"id": str(row.get("id", i)), "text": text}) + "\n")
            n += 1
            bar.update()
        bar.close()
    return out


def _rows_of(source, split: str):
    """Rows (dicts) of a local jsonl/parquet file or a streamed hub dataset, and a name."""
    path = Path(source)
    if path.exists():
        return (_parquet_rows(path) if path.suffix == ".parquet" else _jsonl_rows(path)), str(path)
    name, _, config = str(source).partition(":")
    try:
        import datasets

        stream = datasets.load_dataset(name, config or None, split=split, streaming=True)
        it = iter(stream)
        first = next(it)
    except Exception as e:  # datasets raises many types offline (ConnectionError, FileNotFound...)
        raise DataError(
            f"corpus {source!r} is neither a local file nor a reachable Hugging Face dataset "
            f"({type(e).__name__}); pass a local .jsonl/.parquet file, or run with network"
        ) from e
    return _chain(first, it), str(source)


def _parquet_rows(path: Path):
    import pyarrow.parquet as pq

    yield from pq.read_table(path).to_pylist()


def _jsonl_rows(path: Path):
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{lineno} is not valid JSON ({e.msg})") from e


def _field(row: dict, name: str, source: str):
    value = row
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            have = sorted(row) if isinstance(row, dict) else []
            raise DataError(f"{source} has no field {name!r} (fields: {have})")
        value = value[part]
    return value


def _text(value) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def _predicate(where: tuple | None):
    if not where:
        return lambda row: True
    if len(where) == 2:
        name, value = where
        return lambda row: _field(row, name, "row") == value
    name, op, value = where
    if op not in (">=", "<="):
        raise DataError(f"row filter operator must be >= or <=, got {op!r}")
    if op == ">=":
        return lambda row: float(_field(row, name, "row")) >= value
    return lambda row: float(_field(row, name, "row")) <= value


def _chain(first, rest):
    yield first
    yield from rest


@dataclass
class PreparedCorpus:
    """A corpus cut to its first `ctx_len` model tokens; empty documents are dropped."""

    corpus: Corpus
    rows: np.ndarray
    """int64 [n]: index into `corpus` of each kept document."""
    flat_ids: np.ndarray
    """int32: token ids of all kept documents, concatenated."""
    offsets: np.ndarray
    """int64 [n + 1]: document k's tokens are `flat_ids[offsets[k]:offsets[k+1]]`."""
    char_end: np.ndarray
    """int64 [n]: the cut text of document k is `text[:char_end[k]]`."""
    ctx_len: int
    tokenizer_name: str
    pad_id: int
    key: str
    """Cache key of this preparation (corpus fingerprint, tokenizer, ctx_len)."""

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def text(self, k: int) -> str:
        return self.corpus.texts[self.rows[k]][: self.char_end[k]]

    def texts(self) -> list[str]:
        return [self.text(k) for k in range(len(self))]

    def doc_id(self, k: int) -> str:
        return self.corpus.ids[self.rows[k]]

    def topic(self, k: int) -> str | None:
        return None if self.corpus.topics is None else self.corpus.topics[self.rows[k]]

    def token_ids(self, k: int) -> np.ndarray:
        return self.flat_ids[self.offsets[k] : self.offsets[k + 1]]

    def token_dataset(self, rows: np.ndarray, source: str):
        """The documents `rows` (in that order) as an ssae.tokens.TokenDataset."""
        import torch

        from ssae.tokens import TokenDataset

        ids = torch.full((len(rows), self.ctx_len), self.pad_id, dtype=torch.int32)
        lens = torch.zeros(len(rows), dtype=torch.int32)
        for j, r in enumerate(np.asarray(rows).tolist()):
            t = self.token_ids(r)
            ids[j, : len(t)] = torch.from_numpy(t.astype(np.int32))
            lens[j] = len(t)
        doc_ids = [self.doc_id(int(r)) for r in rows]
        return TokenDataset(ids, lens, self.pad_id, self.tokenizer_name, source, doc_ids)


def tokenizer_key(tokenizer) -> str:
    """Identity of a tokenizer for cache keys: its class, vocabulary size, and the content of its
    files when it was read from a local folder (else its hub name)."""
    name = str(getattr(tokenizer, "name_or_path", ""))
    folder = Path(name)
    if folder.is_dir():
        files = [p.name for p in folder.iterdir() if p.name.startswith(TOKENIZER_FILES)]
        name = content_hash(folder, only=files)
    return stable_hash([name, type(tokenizer).__name__, len(tokenizer)])


def prepare_corpus(
    corpus: Corpus,
    tokenizer,
    ctx_len: int = 128,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 2048,
) -> PreparedCorpus:
    """Cut every document to its first `ctx_len` tokens of `tokenizer` (cached; see docstring)."""
    if ctx_len < 1:
        raise ConfigError("ctx_len must be >= 1")
    key = stable_hash([corpus.fingerprint, tokenizer_key(tokenizer), ctx_len])
    root = Path(cache_dir or shift_home() / "retrieval") / "prepared" / key
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    name = str(getattr(tokenizer, "name_or_path", ""))
    if (root / "tokens.npz").exists() and (root / "meta.json").exists():
        z = np.load(root / "tokens.npz")
        return PreparedCorpus(
            corpus,
            z["rows"],
            z["flat_ids"],
            z["offsets"],
            z["char_end"],
            ctx_len,
            name,
            pad_id,
            key,
        )
    rows, pieces, lengths, char_end = [], [], [], []
    # Tokenizing a long document in full only to keep 128 tokens is wasteful: cut the text to a
    # generous character window first, and redo the rare document whose window was too short.
    window = 32 * ctx_len
    for start in tqdm(range(0, len(corpus), batch_size), desc="tokenizing corpus", unit="batch"):
        chunk = corpus.texts[start : start + batch_size]
        enc = _cut(tokenizer, [t[:window] for t in chunk], ctx_len)
        for j, (ids, offs) in enumerate(zip(enc["input_ids"], enc["offset_mapping"])):
            if len(ids) < ctx_len and len(chunk[j]) > window:
                one = _cut(tokenizer, [chunk[j]], ctx_len)
                ids, offs = one["input_ids"][0], one["offset_mapping"][0]
            if not ids:
                continue
            rows.append(start + j)
            pieces.append(np.asarray(ids, dtype=np.int32))
            lengths.append(len(ids))
            char_end.append(max(e for _, e in offs))
    if not rows:
        raise DataError(f"corpus {corpus.source} has only empty documents")
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    prepared = PreparedCorpus(
        corpus,
        np.asarray(rows, dtype=np.int64),
        np.concatenate(pieces),
        offsets,
        np.asarray(char_end, dtype=np.int64),
        ctx_len,
        name,
        pad_id,
        key,
    )
    root.mkdir(parents=True, exist_ok=True)
    with atomic_path(root / "tokens.npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                rows=prepared.rows,
                flat_ids=prepared.flat_ids,
                offsets=prepared.offsets,
                char_end=prepared.char_end,
            )
    write_json(
        root / "meta.json",
        {"source": corpus.source, "tokenizer": name, "ctx_len": ctx_len, "n_docs": len(rows)},
    )
    return prepared


def _cut(tokenizer, texts: list[str], ctx_len: int) -> dict:
    try:
        return tokenizer(
            texts,
            truncation=True,
            max_length=ctx_len,
            add_special_tokens=False,
            return_offsets_mapping=True,
        )
    except NotImplementedError as e:  # slow tokenizers have no offsets
        raise DataError("retrieval needs a fast (Rust) tokenizer for the model") from e


def cached_index(marker: Path, load, doc_ids: list[str]):
    """The index cached in `marker`'s folder (None when `marker` is absent), checked against the
    corpus it claims to index."""
    if not marker.exists():
        return None
    index = load(marker.parent)
    if index.doc_ids != doc_ids:
        raise DataError(f"index {marker.parent} does not match its corpus; delete it to rebuild")
    return index
