"""Bias in Bios loading and split construction on a hand-built LabHC-schema dataset."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from shift.data.bib import build_split, load_bib, load_bib_tables
from shift.data.professions import PROFESSIONS, parse_professions, profession_id
from ssae.errors import DataError

PROF, NURSE, SURGEON = 21, 13, 25
# (profession, gender) -> rows per split; other professions are noise the builder must ignore.
COUNTS = {
    "train": {(PROF, 0): 7, (PROF, 1): 3, (NURSE, 0): 2, (NURSE, 1): 5, (SURGEON, 0): 4, (2, 1): 3},
    "dev": {(PROF, 0): 3, (PROF, 1): 2, (NURSE, 0): 1, (NURSE, 1): 2, (SURGEON, 1): 1},
    "test": {(PROF, 0): 4, (PROF, 1): 4, (NURSE, 0): 3, (NURSE, 1): 6, (2, 0): 2},
}


def make_rows(split: str) -> list[dict]:
    rows = []
    for (p, g), n in COUNTS[split].items():
        rows += [
            {"hard_text": f"{split} {PROFESSIONS[p]} g{g} #{i}", "profession": p, "gender": g}
            for i in range(n)
        ]
    random.Random(split).shuffle(rows)  # interleave groups, like a real file
    return rows


def write_parquet(path, rows):
    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.fixture
def labhc_dir(tmp_path):
    d = tmp_path / "bib"
    d.mkdir()
    for split in COUNTS:
        write_parquet(d / f"{split}.parquet", make_rows(split))
    return d


def meta_of(split):
    return {r["hard_text"]: (r["profession"], r["gender"]) for r in make_rows(split)}


def test_group_counts_and_labels(labhc_dir):
    data = load_bib(labhc_dir)
    for name, counts in COUNTS.items():
        s = data[name]
        meta = meta_of(name)
        sizes = {
            k: counts[(pid, g)]
            for k in [(0, 0), (0, 1), (1, 0), (1, 1)]
            for pid, g in [((PROF, NURSE)[k[0]], k[1])]
        }
        n = min(sizes[(0, 0)], sizes[(1, 1)])
        m = min(sizes.values())
        assert len(s.ambiguous) == 2 * n and len(s.balanced) == 4 * m
        assert {k: len(v) for k, v in s.groups.items()} == sizes
        assert len(s) == sum(sizes.values())
        # every pool row carries its true profession / gender label
        for text, p, g in zip(s.texts, s.profession.tolist(), s.gender.tolist()):
            assert meta[text] == ((PROF, NURSE)[p], g)
        # ambiguous: label 0 = male professor, label 1 = female nurse, n of each
        amb = [meta[t] for t in s.select(s.ambiguous)]
        labels = s.ambiguous_labels.tolist()
        assert all(
            (pg == (PROF, 0)) == (y == 0) and pg in [(PROF, 0), (NURSE, 1)]
            for pg, y in zip(amb, labels)
        )
        assert labels.count(0) == labels.count(1) == n
        # balanced: m of each group; profession and gender labels as in the table
        bal = [meta[t] for t in s.select(s.balanced)]
        for key in [(PROF, 0), (PROF, 1), (NURSE, 0), (NURSE, 1)]:
            assert bal.count(key) == m
        assert s.profession[s.balanced].tolist() == [int(p == NURSE) for p, _ in bal]
        assert s.gender[s.balanced].tolist() == [g for _, g in bal]
        # subgroups hold the whole group
        for (pl, g), idx in s.groups.items():
            assert {meta[t] for t in s.select(idx)} == {((PROF, NURSE)[pl], g)}


def test_first_rows_in_dataset_order_and_notebook_shuffle(labhc_dir):
    s = load_bib(labhc_dir, splits=["train"])["train"]
    rows = make_rows("train")
    male_prof = [r["hard_text"] for r in rows if (r["profession"], r["gender"]) == (PROF, 0)]
    fem_nurse = [r["hard_text"] for r in rows if (r["profession"], r["gender"]) == (NURSE, 1)]
    n = min(len(male_prof), len(fem_nurse))
    # the notebook: neg[:n] + pos[:n], then random.Random(42).shuffle of the positions
    data = male_prof[:n] + fem_nurse[:n]
    order = list(range(2 * n))
    random.Random(42).shuffle(order)
    assert s.select(s.ambiguous) == [data[i] for i in order]
    assert s.ambiguous_labels.tolist() == [([0] * n + [1] * n)[i] for i in order]


def test_deterministic_and_seeded(labhc_dir):
    a = load_bib(labhc_dir)["train"]
    b = load_bib(labhc_dir)["train"]
    c = load_bib(labhc_dir, seed=7)["train"]
    assert a.texts == b.texts and torch.equal(a.ambiguous, b.ambiguous)
    assert torch.equal(a.balanced, b.balanced)
    assert sorted(a.ambiguous.tolist()) == sorted(c.ambiguous.tolist())
    assert not torch.equal(a.ambiguous, c.ambiguous)


def test_no_example_in_two_splits(labhc_dir, tmp_path):
    data = load_bib(labhc_dir)
    sets = [set(data[n].texts) for n in ("train", "dev", "test")]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    # a single file is partitioned deterministically into disjoint splits covering every row
    rows = [r for s in COUNTS for r in make_rows(s)]
    single = tmp_path / "all.parquet"
    write_parquet(single, rows)
    tables = load_bib_tables(single)
    texts = [set(tables[n].texts) for n in ("train", "dev", "test")]
    assert sum(map(len, texts)) == len(rows) and set.union(*texts) == {r["hard_text"] for r in rows}
    assert load_bib_tables(single)["test"].texts == tables["test"].texts


def test_max_per_group_caps_each_split(labhc_dir):
    data = load_bib(labhc_dir, max_per_group={"train": 2, "test": None}, splits=["train", "test"])
    assert {len(v) for v in data["train"].groups.values()} == {2}
    assert len(data["train"].ambiguous) == 4 and len(data["train"].balanced) == 8
    assert len(data["test"]) == sum(v for k, v in COUNTS["test"].items() if k[0] in (PROF, NURSE))


def test_jsonl_directory_and_other_pairs(tmp_path):
    d = tmp_path / "jsonl"
    d.mkdir()
    for split in ("train", "dev", "test"):
        rows = make_rows(split) + [
            {"hard_text": f"{split} extra {p} {g} {i}", "profession": p, "gender": g}
            for p in (SURGEON, 22)
            for g in (0, 1)
            for i in range(2)
        ]
        (d / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = load_bib(d, professions="surgeon,psychologist", splits=["test"])
    s = data["test"]
    assert data.professions == (25, 22) and data.profession_names == ("surgeon", "psychologist")
    assert {k: len(v) for k, v in s.groups.items()} == {(0, 0): 2, (0, 1): 2, (1, 0): 2, (1, 1): 2}


def test_profession_names_and_ids():
    assert parse_professions("professor,nurse") == (21, 13)
    assert parse_professions("surgeon, psychologist") == (25, 22)
    assert parse_professions(["attorney", "teacher"]) == (2, 26)
    assert parse_professions("architect,journalist") == (1, 11)
    assert parse_professions(("21", 13)) == (21, 13)
    assert profession_id("Interior Designer") == 10 and profession_id("yoga-teacher") == 27
    assert len(PROFESSIONS) == 28 and PROFESSIONS[21] == "professor" and PROFESSIONS[13] == "nurse"


def one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_errors(labhc_dir, tmp_path):
    with pytest.raises(DataError) as e:
        load_bib(labhc_dir, professions="professor,astronaut")
    assert "unknown profession 'astronaut'" in one_line(e)
    with pytest.raises(DataError) as e:
        parse_professions("nurse,nurse")
    assert "two different" in one_line(e)
    with pytest.raises(DataError) as e:
        parse_professions("99,nurse")
    one_line(e)

    bad = tmp_path / "bad.parquet"  # a dataset with a different schema
    write_parquet(bad, [{"text": "x", "label": 1, "gender": 0}])
    with pytest.raises(DataError) as e:
        load_bib(bad)
    assert "lacks column(s) hard_text, profession" in one_line(e)
    bad2 = tmp_path / "bad2.parquet"
    write_parquet(bad2, [{"hard_text": "x", "profession": "nurse", "gender": 0}])
    with pytest.raises(DataError) as e:
        load_bib(bad2)
    assert "column profession is string, expected int" in one_line(e)

    # a split missing one profession x gender group
    (tmp_path / "gap").mkdir()
    for split in COUNTS:
        rows = [
            r
            for r in make_rows(split)
            if split != "test" or (r["profession"], r["gender"]) != (NURSE, 0)
        ]
        write_parquet(tmp_path / "gap" / f"{split}.parquet", rows)
    with pytest.raises(DataError) as e:
        load_bib(tmp_path / "gap")
    assert "test split" in one_line(e) and "no male nurse examples" in one_line(e)

    with pytest.raises(DataError) as e:
        load_bib(tmp_path / "nothing-here")
    assert "does not exist" in one_line(e)
    (tmp_path / "trainonly").mkdir()
    write_parquet(tmp_path / "trainonly" / "train.parquet", make_rows("train"))
    write_parquet(tmp_path / "trainonly" / "notes.parquet", make_rows("dev"))
    with pytest.raises(DataError) as e:
        load_bib(tmp_path / "trainonly")
    assert "has no dev file" in one_line(e)


def test_hub_offline_error_names_the_ways_out(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    def offline(*a, **k):  # never let the test touch the network, whatever the env
        raise ConnectionError("Couldn't reach 'LabHC/bias_in_bios' on the Hub (offline)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as e:
        load_bib("LabHC/bias_in_bios")
    msg = one_line(e)
    assert "--bib-path" in msg and "--preset tiny" in msg


def test_build_split_directly():
    import numpy as np

    from shift.data.bib import BibTable

    t = BibTable(
        texts=[f"t{i}" for i in range(8)],
        profession=np.array([21, 13, 21, 13, 21, 13, 21, 13]),
        gender=np.array([0, 1, 1, 0, 0, 1, 0, 1]),
    )
    s = build_split(t, "x", (21, 13))
    # groups in dataset order: prof/m = t0,t4,t6; prof/f = t2; nurse/m = t3; nurse/f = t1,t5,t7
    assert s.texts == ["t0", "t4", "t6", "t2", "t3", "t1", "t5", "t7"]
    assert len(s.balanced) == 4 and len(s.ambiguous) == 6
