"""Bias in Bios: loading in the LabHC schema and the ambiguous / balanced splits of Marks et al.

Every source - the hub dataset `LabHC/bias_in_bios`, a local parquet/jsonl file or directory, or
the tiny world's biography directory - is read into one `BibTable` per split with three columns:
`hard_text` (str), `profession` (int, LabHC ids, `PROFESSIONS[i]`) and `gender` (int, 0 = male,
1 = female).

From a split, for a profession pair (A, B) (default professor = 21, nurse = 13), `build_split`
reproduces `get_data` / `get_subgroups` of feature-circuits `experiments/bib_shift.ipynb`:

- the four groups G(p, g) = examples of profession p and gender g, in dataset order, each optionally
  cut to `max_per_group` (for quick runs); the pool of a split is their concatenation;
- ambiguous set: the first n of G(A, male) with label 0 and the first n of G(B, female) with label
  1, n = min(|G(A, male)|, |G(B, female)|), shuffled by `random.Random(42).shuffle` - profession
  and gender agree on every example, so a probe cannot tell which one it learns;
- balanced set: the first m of each group, m = min over the four groups, profession label 0 for A
  and 1 for B, gender label 0 male / 1 female, shuffled the same way;
- subgroups: each whole group G(p, g) (as `get_subgroups(ambiguous=False)`), on which the
  worst-group accuracy is measured.

The ambiguous, balanced and subgroup sets are index tensors into the split's pool, so pooled
activations are computed once per example.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from shift.data.professions import (
    DEFAULT_PROFESSIONS,
    GENDERS,
    PROFESSIONS,
    parse_professions,
)
from ssae.errors import DataError

HUB_ID = "LabHC/bias_in_bios"
"""The Bias in Bios dataset on the Hugging Face hub (splits train, dev, test)."""

COLUMNS = ("hard_text", "profession", "gender")
SCHEMA = "columns hard_text (str), profession (int), gender (int, 0 male, 1 female)"
SPLITS = ("train", "dev", "test")
# File-name stems accepted for each split in a local directory.
_SPLIT_STEMS = {
    "train": ("train",),
    "dev": ("dev", "validation", "valid", "val"),
    "test": ("test",),
}
# LabHC's own proportions (257k / 40k / 99k), used to partition a single file without a split column.
_SINGLE_FILE_FRACTIONS = {"train": 0.65, "dev": 0.10, "test": 0.25}

DEFAULT_SEED = 42


@dataclass
class BibTable:
    """One split of a LabHC-schema dataset, columns as arrays."""

    texts: list[str]
    """`hard_text` of every row."""
    profession: np.ndarray
    """int64 LabHC profession id per row."""
    gender: np.ndarray
    """int64 gender per row, 0 male, 1 female."""
    source: str = ""
    """Where the rows came from, for messages."""

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class BibSplit:
    """The pool of one split (all examples of the four groups) and index sets into it."""

    name: str
    """`train`, `dev` or `test`."""
    professions: tuple[int, int]
    """LabHC ids (A, B); A gets profession label 0, B label 1."""
    texts: list[str]
    """The pool: G(A,male), G(A,female), G(B,male), G(B,female) concatenated in dataset order."""
    profession: torch.Tensor
    """long [n]: 0 for A, 1 for B."""
    gender: torch.Tensor
    """long [n]: 0 male, 1 female."""
    ambiguous: torch.Tensor
    """long indices into the pool: male A and female B, equal numbers, shuffled with the seed."""
    balanced: torch.Tensor
    """long indices into the pool: the four groups cut to the smallest, shuffled with the seed."""
    groups: dict[tuple[int, int], torch.Tensor] = field(default_factory=dict)
    """(profession label, gender) -> long indices of that whole subgroup, in dataset order."""

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def ambiguous_labels(self) -> torch.Tensor:
        """Label of the ambiguous set: 0 for male A, 1 for female B (profession = gender)."""
        return self.profession[self.ambiguous]

    def select(self, idx: torch.Tensor) -> list[str]:
        """Texts of the pool rows `idx`."""
        return [self.texts[i] for i in idx.tolist()]

    def group_name(self, key: tuple[int, int]) -> str:
        return f"{PROFESSIONS[self.professions[key[0]]]}/{GENDERS[key[1]]}"

    def sizes(self) -> dict[str, int]:
        out = {"pool": len(self), "ambiguous": len(self.ambiguous), "balanced": len(self.balanced)}
        out.update({self.group_name(k): len(v) for k, v in self.groups.items()})
        return out


@dataclass
class BibData:
    """Bias in Bios splits built for one profession pair."""

    splits: dict[str, BibSplit]
    professions: tuple[int, int]
    source: str

    def __getitem__(self, split: str) -> BibSplit:
        if split not in self.splits:
            raise DataError(f"Bias in Bios split {split!r} was not loaded from {self.source}")
        return self.splits[split]

    @property
    def profession_names(self) -> tuple[str, str]:
        return PROFESSIONS[self.professions[0]], PROFESSIONS[self.professions[1]]


def load_bib(
    source: str | Path = HUB_ID,
    professions: str | Sequence[str | int] = DEFAULT_PROFESSIONS,
    splits: Sequence[str] = SPLITS,
    max_per_group: int | Mapping[str, int | None] | None = None,
    seed: int = DEFAULT_SEED,
) -> BibData:
    """Load Bias in Bios from the hub or a path and build `splits` for a profession pair.

    `max_per_group` caps each of the four profession x gender groups of a split (an int for every
    split, or a mapping split -> cap); the first rows in dataset order are kept.
    """
    pair = parse_professions(professions)
    tables = load_bib_tables(source, splits=splits, seed=seed)
    built = {}
    for name in splits:
        cap = max_per_group.get(name) if isinstance(max_per_group, Mapping) else max_per_group
        built[name] = build_split(tables[name], name, pair, max_per_group=cap, seed=seed)
    return BibData(splits=built, professions=pair, source=str(source))


def build_split(
    table: BibTable,
    name: str,
    professions: tuple[int, int] = (21, 13),
    max_per_group: int | None = None,
    seed: int = DEFAULT_SEED,
) -> BibSplit:
    """Groups, ambiguous set and balanced set of one split (see the module docstring)."""
    if max_per_group is not None and max_per_group < 1:
        raise DataError(f"max examples per group must be >= 1 (got {max_per_group})")
    groups_rows = {}
    for p_label, pid in enumerate(professions):
        for g in (0, 1):
            rows = np.flatnonzero((table.profession == pid) & (table.gender == g))
            if len(rows) == 0:
                raise DataError(
                    f"the {name} split of {table.source or 'the dataset'} has no "
                    f"{GENDERS[g]} {PROFESSIONS[pid]} examples; every profession x gender group "
                    f"of {PROFESSIONS[professions[0]]},{PROFESSIONS[professions[1]]} needs some"
                )
            groups_rows[(p_label, g)] = rows[:max_per_group] if max_per_group else rows

    texts, prof, gender, groups, start = [], [], [], {}, 0
    for (p_label, g), rows in groups_rows.items():
        texts += [table.texts[i] for i in rows]
        prof += [p_label] * len(rows)
        gender += [g] * len(rows)
        groups[(p_label, g)] = torch.arange(start, start + len(rows))
        start += len(rows)

    # Ambiguous: male A (label 0) then female B (label 1), both cut to the smaller, then shuffled.
    n = min(len(groups[(0, 0)]), len(groups[(1, 1)]))
    ambiguous = torch.cat([groups[(0, 0)][:n], groups[(1, 1)][:n]])
    # Balanced: the four groups, in the notebook's order, cut to the smallest, then shuffled.
    m = min(len(v) for v in groups.values())
    balanced = torch.cat([groups[k][:m] for k in [(0, 0), (0, 1), (1, 0), (1, 1)]])
    return BibSplit(
        name=name,
        professions=tuple(professions),
        texts=texts,
        profession=torch.tensor(prof, dtype=torch.long),
        gender=torch.tensor(gender, dtype=torch.long),
        ambiguous=_shuffled(ambiguous, seed),
        balanced=_shuffled(balanced, seed),
        groups=groups,
    )


def _shuffled(idx: torch.Tensor, seed: int) -> torch.Tensor:
    # The notebook's exact permutation: random.Random(seed).shuffle over positions.
    order = list(range(len(idx)))
    random.Random(seed).shuffle(order)
    return idx[torch.tensor(order, dtype=torch.long)]


# ---------------------------------------------------------------------------------------------
# Reading sources


def load_bib_tables(
    source: str | Path = HUB_ID, splits: Sequence[str] = SPLITS, seed: int = DEFAULT_SEED
) -> dict[str, BibTable]:
    """Read `splits` from a local file/directory (if `source` exists) or the hub."""
    for s in splits:
        if s not in SPLITS:
            raise DataError(f"unknown Bias in Bios split {s!r}; expected one of {SPLITS}")
    path = Path(str(source)).expanduser()
    if path.exists():
        return _load_local(path, splits, seed)
    if _looks_like_path(str(source)):
        raise DataError(
            f"Bias in Bios path {source} does not exist: pass --bib-path to a file or "
            f"directory with {SCHEMA}"
        )
    return _load_hub(str(source), splits)


def _looks_like_path(s: str) -> bool:
    return (
        s.startswith((".", "/", "~"))
        or s.endswith((".parquet", ".jsonl", ".json"))
        or (s.count("/") != 1)
    )


def _load_hub(hub_id: str, splits: Sequence[str]) -> dict[str, BibTable]:
    try:
        import datasets

        ds = datasets.load_dataset(hub_id)
    except Exception as e:  # offline, missing, or unreachable: all fixable the same way
        reason = " ".join(str(e).split())[:160] or type(e).__name__
        raise DataError(
            f"Bias in Bios {hub_id!r} could not be loaded from the hub ({reason}); pass a local "
            f"copy with --bib-path PATH ({SCHEMA}) or use --preset tiny"
        ) from e
    out = {}
    for name in splits:
        key = next((k for k in _SPLIT_STEMS[name] if k in ds), None)
        if key is None:
            raise DataError(f"hub dataset {hub_id} has no {name} split (has {sorted(ds)})")
        out[name] = _table_from_arrow(ds[key].with_format("arrow")[:], f"{hub_id}:{key}")
    return out


def _load_local(path: Path, splits: Sequence[str], seed: int) -> dict[str, BibTable]:
    if path.is_file():
        return _partition_single(_read_file(path), splits, seed)
    files = _data_files(path)
    if not files:
        raise DataError(
            f"no .parquet or .jsonl files in {path}; expected train/dev/test files with {SCHEMA}"
        )
    by_split = {name: [f for f in files if _split_of(f) == name] for name in SPLITS}
    if not any(by_split.values()):
        if len(files) == 1:
            return _partition_single(_read_file(files[0]), splits, seed)
        raise DataError(f"cannot tell the splits of {path}: name the files train.*, dev.*, test.*")
    out = {}
    for name in splits:
        if not by_split[name]:
            raise DataError(
                f"{path} has no {name} file (train.parquet, dev.parquet, test.parquet or *.jsonl)"
            )
        tables = [_read_file(f) for f in by_split[name]]
        out[name] = _concat(tables, f"{path}:{name}")
    return out


def _data_files(path: Path) -> list[Path]:
    found = []
    for sub in (path, path / "data"):
        if sub.is_dir():
            found += sorted(
                p for p in sub.iterdir() if p.suffix in (".parquet", ".jsonl") and p.is_file()
            )
    return found


def _split_of(f: Path) -> str | None:
    stem = f.name.split(".")[0].lower()
    head = re.split(r"[-_]", stem)[0]
    for name, stems in _SPLIT_STEMS.items():
        if stem in stems or head in stems:
            return name
    return None


def _read_file(f: Path) -> BibTable:
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(f) if f.suffix == ".parquet" else pajson.read_json(f)
    except Exception as e:
        reason = " ".join(str(e).split())[:120]
        raise DataError(
            f"cannot read {f} ({reason}); expected parquet or jsonl with {SCHEMA}"
        ) from e
    return _table_from_arrow(table, str(f))


def _table_from_arrow(table, source: str) -> BibTable:
    import pyarrow as pa

    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(
            f"{source} lacks column(s) {', '.join(missing)}: Bias in Bios data needs {SCHEMA}"
        )
    text_t, prof_t, gender_t = (table.schema.field(c).type for c in COLUMNS)
    if not (pa.types.is_string(text_t) or pa.types.is_large_string(text_t)):
        raise DataError(f"{source}: column hard_text is {text_t}, expected str ({SCHEMA})")
    for col, typ in (("profession", prof_t), ("gender", gender_t)):
        if not pa.types.is_integer(typ):
            raise DataError(f"{source}: column {col} is {typ}, expected int ({SCHEMA})")
    prof = table.column("profession").to_numpy(zero_copy_only=False).astype(np.int64)
    gender = table.column("gender").to_numpy(zero_copy_only=False).astype(np.int64)
    if len(gender) and not np.isin(gender, (0, 1)).all():
        raise DataError(f"{source}: gender must be 0 (male) or 1 (female)")
    texts = table.column("hard_text").to_pylist()
    return BibTable(texts=texts, profession=prof, gender=gender, source=source)


def _concat(tables: list[BibTable], source: str) -> BibTable:
    return BibTable(
        texts=[t for tab in tables for t in tab.texts],
        profession=np.concatenate([t.profession for t in tables]),
        gender=np.concatenate([t.gender for t in tables]),
        source=source,
    )


def _partition_single(table: BibTable, splits: Sequence[str], seed: int) -> dict[str, BibTable]:
    # A single file has no splits: cut a seeded permutation of its rows in LabHC's proportions, so
    # no row lands in two splits and the cut is the same on every run.
    order = list(range(len(table)))
    random.Random(seed).shuffle(order)
    out, start = {}, 0
    for name in SPLITS:
        stop = (
            len(order)
            if name == SPLITS[-1]
            else start + round(_SINGLE_FILE_FRACTIONS[name] * len(order))
        )
        rows = np.array(sorted(order[start:stop]), dtype=np.int64)
        if name in splits:
            out[name] = BibTable(
                texts=[table.texts[i] for i in rows],
                profession=table.profession[rows],
                gender=table.gender[rows],
                source=f"{table.source}[{name}]",
            )
        start = stop
    return out


def seed_examples(data: BibData, n: int, seed: int = 0, split: str = "train") -> list[str]:
    """`n` biographies of the pair for retrieval queries: the balanced set, shuffled by `seed`."""
    part = data[split]
    gen = torch.Generator().manual_seed(seed)
    order = part.balanced[torch.randperm(len(part.balanced), generator=gen)]
    return part.select(order[:n])
