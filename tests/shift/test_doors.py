"""Every command's door: bad inputs refused in one `Error: ...` line, before any work.

For each command a table of bad inputs (missing required options included): each must exit
non-zero with exactly one line on stderr, starting `Error: ` and saying what is wrong, no
traceback, and nothing written - no output, no world, no stage, no model loaded (the loaders are
replaced by tripwires). Then a property-based test feeds random option values to every command and
must never see a traceback. `shift run`'s own table is in `bad_inputs.py` / `test_cli.py`.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shift.cli import main
from shift.commands.circuit import circuit as circuit_group
from shift.commands.sae import sae as sae_group
from shift.commands.study import study as study_group
from shift.commands.world import world as world_group
from ssae.errors import ToolkitError


class Tripwire(ToolkitError):
    """Raised by the replaced loaders: work began, so the door let the input through."""


def tripwire(*args, **kwargs):
    raise Tripwire("work started (the door let the input through)")


WORK = [
    "shift.world.ensure_world",
    "shift.cache.StageRunner.run",
    "ssae.models.load_model",
    "shift.baselines.run_baselines",
    "ssae.retrieval.retrieve",
    "shift.study.context.open_study",
]
"""Where each command's work begins; a bad input must be refused before all of them."""


# ----------------------------------------------------------------------------------------------
# the inputs


def _token_dataset(folder: Path, ids, lengths, meta: dict | None = None) -> Path:
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({"input_ids": ids, "lengths": lengths}, str(folder / "tokens.safetensors"))
    (folder / "meta.json").write_text(json.dumps({"pad_id": 0} if meta is None else meta))
    return folder


def _sae_set(folder: Path, config: dict | str | None, weights: bool = True) -> Path:
    run = folder / "embed" / "r"
    run.mkdir(parents=True)
    if weights:
        (run / "ae.pt").write_bytes(b"weights are read only after the door")
    if config is not None:
        text = config if isinstance(config, str) else json.dumps({"trainer": config})
        (run / "config.json").write_text(text)
    return folder


def make_inputs(root: Path) -> dict[str, Path]:
    """Good and bad files of every kind the commands read (names say which is which)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = {}
    f["model"] = root / "model"
    f["model"].mkdir()
    (f["model"] / "config.json").write_text(json.dumps({"hidden_size": 32}))
    f["corpus"] = root / "corpus.jsonl"
    f["corpus"].write_text('{"text": "a document"}\n')
    f["latin1"] = root / "latin1.jsonl"
    f["latin1"].write_bytes('{"text": "r\xe9sum\xe9"}\n'.encode("latin-1"))
    f["nofield"] = root / "nofield.jsonl"
    f["nofield"].write_text('{"body": "a document"}\n')
    f["notjson"] = root / "notjson.jsonl"
    f["notjson"].write_text("a document\n")
    f["empty"] = root / "empty.jsonl"
    f["empty"].write_text("\n\n")
    f["parquet_notext"] = root / "corpus.parquet"
    pq.write_table(pa.table({"body": ["a document"]}), f["parquet_notext"])
    f["csv"] = root / "corpus.csv"
    f["csv"].write_text("text\na document\n")
    f["seeds_latin1"] = root / "seeds.txt"
    f["seeds_latin1"].write_bytes("une biographie r\xe9sum\xe9e\n".encode("latin-1"))
    ids = torch.tensor([[5, 6, 0], [7, 0, 0]], dtype=torch.int32)
    lengths = torch.tensor([2, 1], dtype=torch.int32)
    f["tokens"] = _token_dataset(root / "tokens", ids, lengths)
    f["tokens_nopad"] = _token_dataset(root / "tokens-nopad", ids, lengths, {"source": "x"})
    f["tokens_float"] = _token_dataset(root / "tokens-float", ids.float(), lengths)
    f["tokens_long"] = _token_dataset(root / "tokens-long", ids, torch.tensor([2, 9]))
    f["tokens_negative"] = _token_dataset(root / "tokens-negative", -ids, lengths)
    f["saes"] = _sae_set(root / "saes", {"activation_dim": 32, "dict_size": 64})
    f["saes_empty"] = root / "saes-empty"
    f["saes_empty"].mkdir()
    f["saes_noweights"] = _sae_set(root / "saes-noweights", None, weights=False)
    f["saes_torn"] = _sae_set(root / "saes-torn", "{ torn")
    f["saes_wide"] = _sae_set(root / "saes-wide", {"activation_dim": 512, "dict_size": 64})
    f["saes_zero"] = _sae_set(root / "saes-zero", {"activation_dim": 32, "dict_size": 0})
    f["labels_bad"] = root / "labels.jsonl"
    f["labels_bad"].write_text('{"feature": "embed/3", "label": "she"\n')
    f["labels_foreign"] = root / "labels-foreign.jsonl"
    f["labels_foreign"].write_text('{"feature": "resid_out_layer9/3", "label": "she"}\n')
    f["circuit"] = _circuit(root / "circuit.json")
    f["not_circuit"] = root / "not-circuit.json"
    f["not_circuit"].write_text('{"nodes": [], "edges": []}')
    f["circuit_list"] = root / "circuit-list.json"
    f["circuit_list"].write_text("[1, 2]")
    f["circuit_bad_node"] = root / "circuit-bad-node.json"
    data = json.loads(f["circuit"].read_text())
    del data["nodes"][1]["kind"]
    f["circuit_bad_node"].write_text(json.dumps(data))
    f["circuit_bad_edge"] = root / "circuit-bad-edge.json"
    data = json.loads(f["circuit"].read_text())
    data["edges"][0]["weight"] = "heavy"
    f["circuit_bad_edge"].write_text(json.dumps(data))
    f["a_file"] = root / "a-file.txt"
    f["a_file"].write_text("not a folder")
    return f


def _circuit(path: Path) -> Path:
    import networkx as nx

    from circuits.graph import save_graph

    g = nx.DiGraph(submodules=["embed"])
    g.add_node("metric", kind="metric", submodule=None, feature=None, position=None, effect=0.0)
    g.add_node("embed/3", kind="feature", submodule="embed", feature=3, position=None, effect=0.5)
    g.add_edge("embed/3", "metric", weight=0.2)
    return save_graph(g, path)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    return make_inputs(tmp_path_factory.mktemp("door-inputs"))


@pytest.fixture
def door(tmp_path, monkeypatch):
    """An empty SHIFT_HOME, no GPU, tripwires where work begins, and a working directory of its
    own (so that relative paths land where the test looks)."""
    home = tmp_path / "home"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHIFT_HOME", str(home))
    monkeypatch.delenv("SHIFT_DEBUG", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for target in WORK:
        monkeypatch.setattr(target, tripwire)
    return home


def call(argv: list[str]) -> tuple[int, str]:
    """(exit status, stderr) of `shift ARGV`, as the console script runs it."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
            code = 0
        except SystemExit as e:
            code = e.code
    return code, err.getvalue()


# ----------------------------------------------------------------------------------------------
# the tables: (command, arguments with {name} placeholders for `inputs`, part of the message)

M = ["--model", "{model}"]
OUT = ["--out", "{tmp}/out"]
TABLES = {
    "world build": [
        (["--preset", "paper"], "unknown world preset 'paper'"),
        (["--preset", "huge"], "unknown world preset 'huge'"),
        (["--seed", "-1"], "-1 is not in the range x>=0"),
        (["--seed", "one"], "'one' is not a valid integer range"),
        (["--out", "/proc/shift-worlds"], "--out /proc/shift-worlds is not a writable folder"),
        (["--out", "{a_file}"], "a-file.txt' is a file"),
    ],
    "world info": [
        (["--preset", "paper"], "unknown world preset 'paper'"),
        (["--preset", ""], "unknown world preset ''"),
        (["--seed", "-2"], "-2 is not in the range x>=0"),
        (["--seed", "1.5"], "'1.5' is not a valid integer range"),
        (["--colour", "red"], "No such option '--colour'"),
    ],
    "probe": [
        (["--preset", "micro", "--device", "bogus"], "--device 'bogus' is not a device"),
        (["--preset", "micro", "--max-per-group", "0"], "--max-per-group must be >= 1"),
        (["--preset", "micro", "--professions", "nurse"], "needs exactly two professions"),
        (["--preset", "micro", "--model", "./no/such-model"], "--model ./no/such-model: no such"),
        (["--preset", "micro", "--bib-path", "./no/bios"], "--bib-path ./no/bios: no such file"),
        (["--preset", "micro", "--out", "/proc/probe"], "--out /proc/probe is not a writable"),
        (["--dataset", "imdb"], "unknown dataset 'imdb'"),
    ],
    "sae train": [
        ([*OUT, "--corpus", "{corpus}"], "pass --model (a model id or folder) or --preset"),
        ([*M, "--corpus", "{corpus}"], "Missing option '--out'"),
        ([*M, *OUT], "pass exactly one of --data DIR (token dataset) or --corpus"),
        (
            [*M, *OUT, "--corpus", "{latin1}"],
            "latin1.jsonl:1: not UTF-8 text (byte 0xe9 at column 12)",
        ),
        ([*M, *OUT, "--corpus", "{nofield}"], "needs a string field 'text'"),
        ([*M, *OUT, "--corpus", "{nofield}", "--text-field", "title"], "field 'title'"),
        ([*M, *OUT, "--corpus", "{empty}"], "empty.jsonl is empty"),
        ([*M, *OUT, "--corpus", "{csv}"], "use .jsonl with one document per line"),
        ([*M, *OUT, "--data", "{tokens_nopad}"], "meta.json must be an object with an integer"),
        ([*M, *OUT, "--data", "{corpus}"], "is a file: pass a token dataset folder"),
        ([*M, *OUT, "--data", "{tokens}", "--l1", "-1"], "l1"),
        ([*M, "--data", "{tokens}", "--out", "/proc/x"], "--out /proc/x is not a writable"),
    ],
    "sae finetune": [
        ([*M, *OUT, "--data", "{tokens}"], "Missing option '--sae-folder'"),
        ([*M, *OUT, "--data", "{tokens}", "--sae-folder", "{saes_empty}"], "no submodule folders"),
        (
            [*M, *OUT, "--data", "{tokens}", "--sae-folder", "{saes_noweights}"],
            "holds no dictionary (no ae.pt or cfg.json below it)",
        ),
        (
            [*M, *OUT, "--data", "{tokens}", "--sae-folder", "{saes_wide}"],
            "input width 512 does not match the model's width 32",
        ),
        (
            [*M, *OUT, "--data", "{tokens}", "--sae-folder", "{saes}", "--submodules", "mlp_x"],
            "the SAE set has no dictionary for mlp_x",
        ),
        ([*M, *OUT, "--sae-folder", "{saes}", "--data", "{tokens_float}"], "integer tensor"),
        ([*M, *OUT, "--sae-folder", "{saes}", "--data", "{tokens}", "--lr", "0"], "lr"),
        ([*M, *OUT, "--sae-folder", "{saes}", "--corpus", "{corpus}", "--units", "x"], "'x'"),
    ],
    "sae eval": [
        ([*M, *OUT, "--sae-folder", "{saes}"], "pass exactly one of --data DIR"),
        ([*M, *OUT, "--data", "{tokens}"], "Missing option '--sae-folder'"),
        ([*M, *OUT, "--data", "{tokens}", "--sae-folder", "{saes_torn}"], "is unreadable or"),
        ([*M, *OUT, "--sae-folder", "{saes}", "--data", "{tokens_long}"], "lengths must be in"),
        ([*M, *OUT, "--sae-folder", "{saes}", "--data", "{tokens_negative}"], "must be >= 0"),
        ([*M, *OUT, "--sae-folder", "{saes}", "--corpus", "{notjson}"], "not valid JSON"),
        (
            [*M, "--sae-folder", "{saes}", "--data", "{tokens}", "--out", "/proc/e/r.json"],
            "--out's folder /proc/e is not a writable folder",
        ),
        ([*M, *OUT, "--device", "cuda"], "no usable CUDA GPU"),
    ],
    "sae compress": [
        ([*M, *OUT, "--sae-folder", "{saes}"], "Missing option '--k'"),
        ([*M, *OUT, "--sae-folder", "{saes}", "--k", "0"], "--k must be at least 1"),
        ([*M, *OUT, "--sae-folder", "{saes}", "--k", "65"], "exceeds the width of the narrowest"),
        ([*M, *OUT, "--sae-folder", "{tmp}/missing", "--k", "4"], "missing does not exist"),
        ([*M, *OUT, "--sae-folder", "{a_file}", "--k", "4"], "a-file.txt is a file"),
        ([*M, *OUT, "--sae-folder", "{saes_zero}", "--k", "4"], "must be a whole number >= 1"),
        ([*M, "--sae-folder", "{saes}", "--k", "4", "--out", "/proc/c"], "/proc/c is not a"),
    ],
    "circuit compute": [
        (["--sae-folder", "{saes}", "--data", "{corpus}", *OUT], "Missing option '--model'"),
        ([*M, "--sae-folder", "{saes_empty}", "--data", "{corpus}", *OUT], "no submodule folders"),
        ([*M, "--sae-folder", "{saes}", "--data", "{notjson}", *OUT], "--data"),
        ([*M, "--sae-folder", "{saes}", "--data", "{tokens_nopad}", *OUT], "integer pad_id"),
        (
            [*M, "--sae-folder", "{saes}", "--data", "{corpus}", "--labels", "{labels_bad}", *OUT],
            "labels.jsonl:1: not valid JSON",
        ),
        (
            [*M, "--sae-folder", "{saes}", "--data", "{corpus}", "--labels", "{labels_foreign}"]
            + OUT,
            "no submodule 'resid_out_layer9' here; use one of embed",
        ),
        ([*M, "--sae-folder", "{saes}", "--data", "{corpus}", "--steps", "0", *OUT], "steps"),
        (
            [*M, "--sae-folder", "{saes}", "--data", "{corpus}", "--metric", "accuracy", *OUT],
            "unknown metric 'accuracy'",
        ),
    ],
    "circuit render": [
        (["--out", "{tmp}/g.svg"], "Missing argument 'CIRCUIT_JSON'"),
        (["{tmp}/none.json", "--out", "{tmp}/g.svg"], "none.json does not exist"),
        (["{not_circuit}", "--out", "{tmp}/g.svg"], "is not a circuit file (format None"),
        (["{circuit_list}", "--out", "{tmp}/g.svg"], "is not a circuit file (format 'list'"),
        (["{circuit_bad_node}", "--out", "{tmp}/g.svg"], "node 1 (embed/3) has kind None"),
        (["{circuit_bad_edge}", "--out", "{tmp}/g.svg"], "edge 0 needs a source and a target"),
        (["{circuit}", "--out", "{tmp}/g.gif"], "use a .svg, .png or .pdf file name"),
        (["{circuit}", "--out", "{tmp}/g.svg", "--labels", "{labels_foreign}"], "no submodule"),
    ],
    "circuit view": [
        ([], "Missing argument 'CIRCUIT_JSON'"),
        (["{tmp}/none.json"], "none.json does not exist"),
        (["{not_circuit}"], "is not a circuit file (format None"),
        (["{circuit_list}"], "is not a circuit file (format 'list'"),
        (["{circuit_bad_node}"], "node 1 (embed/3) has kind None"),
        (["{circuit}", "--max-edges", "0"], "Invalid value for '--max-edges'"),
        (["{circuit}", "--renderer", "canvas"], "Invalid value for '--renderer'"),
    ],
    "circuit export": [
        (["{circuit}"], "Missing option '--format'"),
        (["{circuit}", "--format", "svg"], "Invalid value for '--format'"),
        (["--format", "neuronpedia"], "Missing argument 'CIRCUIT_JSON'"),
        (["{tmp}/none.json", "--format", "neuronpedia"], "none.json does not exist"),
        (["{not_circuit}", "--format", "neuronpedia"], "is not a circuit file (format None"),
        (["{circuit_bad_edge}", "--format", "neuronpedia"], "edge 0 needs a source and a target"),
    ],
    "retrieve": [
        ([*OUT], "give exactly one of --seeds FILE or --dataset NAME"),
        (["--seeds", "{corpus}", "--corpus", "{corpus}", *M], "Missing option '--out'"),
        (["--seeds", "{seeds_latin1}", "--corpus", "{corpus}", *M, *OUT], "seeds.txt:1: not UTF-8"),
        (["--seeds", "{corpus}", "--corpus", "{notjson}", *M, *OUT], "notjson.jsonl:1: not valid"),
        (["--seeds", "{corpus}", "--corpus", "{csv}", *M, *OUT], "unknown corpus format .csv"),
        (["--seeds", "{corpus}", "--method", "grep", *OUT], "'grep'"),
        (["--seeds", "{corpus}", "--budget", "0", *OUT], "at least 1 token"),
        (["--seeds", "{corpus}", "--model", "./no/model", *OUT], "--model ./no/model: no such"),
        (
            ["--seeds", "{corpus}", "--sae-folder", "{saes_torn}", *M, *OUT],
            "config.json is unreadable or not JSON",
        ),
    ],
    "study tail": [
        ([], "Missing option '--domain'"),
        (["--domain", "chemistry"], "'chemistry' is not one of"),
        (["--domain", "physics", "--tilts", "nan"], "--tilts must be a finite number"),
        (["--domain", "physics", "--tilts", "0"], "--tilts must be positive"),
        (["--domain", "physics", "--threads", "0"], "--threads must be >= 1"),
        (["--domain", "physics", "--device", "bogus"], "'bogus' is not a device"),
        (["--domain", "physics", "--corpus", "{notjson}"], "not valid JSON"),
        (["--domain", "physics", "--sae-folder", "{saes_empty}"], "has no dictionary for resid"),
        (["--domain", "physics", "--id-data", "{nofield}"], "--id-data"),
        (["--domain", "physics", "--out", "/proc/study"], "/proc/study is not a writable"),
        (["--domain", "tinystories"], "domain tinystories supports only term"),
    ],
    "bench": [
        (["--methods", "gsae,shiny"], "unknown method"),
        (["--seeds", "0"], "--seeds and --sae-seeds must be >= 1"),
        (["--sae-seeds", "0"], "--seeds and --sae-seeds must be >= 1"),
        (["--archs", "relu,gated"], "unknown architecture(s) ['gated']"),
        (["--preset", "micro", "--device", "bogus"], "--device 'bogus' is not a device"),
        (["--preset", "micro", "--tilt", "nan"], "--tilt must be a finite number"),
        (["--preset", "micro", "--sae-folder", "./no/saes"], "./no/saes: no such file"),
        (["--preset", "micro", "--sae-folder", "{saes_empty}"], "has no dictionary for embed"),
        (["--preset", "micro", "--corpus", "{latin1}"], "not UTF-8 text"),
        (["--preset", "nope"], "unknown preset 'nope'"),
    ],
    "run": [
        (["--preset", "micro", "--sae-folder", "{saes_wide}", "--model", "{model}"], "width 512"),
        (["--preset", "micro", "--corpus", "{latin1}"], "latin1.jsonl:1: not UTF-8 text"),
        (["--preset", "micro", "--corpus", "{csv}"], "unknown corpus format .csv"),
        (["--preset", "micro", "--corpus", "{parquet_notext}"], "has no column 'text'"),
        (["--preset", "micro", "--saes", "{saes}"], "--saes is retired"),
        (["--preset", "micro", "--method", "shiny"], "shiny"),
    ],
}

ROWS = [
    pytest.param(command, args, message, id=f"{command}: {' '.join(args)}")
    for command, rows in TABLES.items()
    for args, message in rows
]


@pytest.mark.parametrize("command, args, message", ROWS)
def test_bad_input_is_refused_at_the_door(door, inputs, tmp_path, command, args, message):
    names = {**{k: str(v) for k, v in inputs.items()}, "tmp": str(tmp_path)}
    argv = [*command.split(), *(a.format(**names) for a in args)]
    if command in ("run", "bench", "probe"):
        argv += ["--out", str(tmp_path / "out")] if "--out" not in argv else []
    code, err = call(argv)
    lines = err.strip().splitlines()
    assert code != 0, err
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert message.format(**names) in lines[0], lines[0]
    assert "Traceback" not in err
    written = [p for p in tmp_path.iterdir() if p.name != "home"]
    assert written == [], written
    assert not any(door.glob("*/*")), sorted(door.rglob("*"))  # no world, stage, hash or index


def test_every_command_has_a_table():
    from shift.cli import COMMANDS

    groups = {"world": world_group, "sae": sae_group, "circuit": circuit_group}
    commands = set()
    for name in COMMANDS:
        sub = groups.get(name)
        commands |= {f"{name} {c}" for c in sub.commands} if sub else {name}
    commands = {c for c in commands if not c.startswith("study")} | {"study tail"}
    missing = sorted(c for c in commands if len(TABLES.get(c, [])) < 5)
    assert not missing, f"commands without a table of at least 5 bad inputs: {missing}"
    assert set(study_group.commands) == {"data-selection", "pareto", "tail", "term"}


# ----------------------------------------------------------------------------------------------
# random option values


def _any_value(inputs: dict[str, Path]):
    files = [str(p) for p in inputs.values()] + ["/proc/x", "./no/such", "", "-"]
    numbers = st.one_of(
        st.integers(-3, 10**6).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.sampled_from(["nan", "inf", "-inf", "1e999", "0x10", "1,2", "8M", "00"]),
    )
    words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
    return st.one_of(st.sampled_from(files), numbers, words)


def _typed_value(param, inputs: dict[str, Path]):
    """Values of the option's own type, so that a draw gets past click's parsing to the
    command's door; None for free text."""
    import click

    from shift.commands.retrieve import TokenCount
    from shift.validate import DeviceParam

    kind = param.type
    if isinstance(kind, click.Choice):
        return st.sampled_from([str(c) for c in kind.choices])
    if isinstance(kind, DeviceParam):
        return st.sampled_from(["cpu", "auto", "cuda", "cuda:1", "mps", "tpu"])
    if isinstance(kind, TokenCount):
        return st.sampled_from(["0", "1", "3000", "8M", "1.5k", "2e3"])
    if isinstance(kind, click.types.IntParamType):
        return st.integers(-(10**6), 10**9).map(str)
    if isinstance(kind, click.types.FloatParamType):
        return st.floats(allow_nan=True, allow_infinity=True).map(repr)
    if isinstance(kind, click.Path) or param.name in ("model", "corpus", "saes", "bib_path"):
        return st.sampled_from([str(p) for p in inputs.values()])
    return None


COMMANDS = [c.split() for c in TABLES] + [["study", s] for s in ("data-selection", "term")]


def _options(argv: list[str]) -> list:
    """The command's click parameters (options and arguments, help excluded)."""
    import click

    from shift.cli import cli

    cmd: click.Command = cli
    for name in argv:
        cmd = cmd.get_command(None, name)
    return [p for p in cmd.params if p.name not in ("help",)]


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_option_values_never_show_a_traceback(door, inputs, data):
    command = data.draw(st.sampled_from(COMMANDS), label="command")
    argv = list(command)
    anything = _any_value(inputs)
    for param in _options(command):
        given_ = param.required or data.draw(st.integers(0, 2), label=param.name) == 0
        if not given_:
            continue
        if getattr(param, "is_flag", False):
            argv.append(param.opts[0])
            continue
        typed = _typed_value(param, inputs)
        wild = typed is None or data.draw(st.integers(0, 7), label=f"{param.name} wild") == 0
        value = data.draw(anything if wild else typed, label=param.name)
        argv += [value] if param.param_type_name == "argument" else [param.opts[0], value]
    code, err = call(argv)
    event(f"{' '.join(command)}: exit {code}")
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 1, 2), (argv, code, err)
    if code:
        last = err.strip().splitlines()[-1]
        assert last.startswith("Error: "), (argv, err)
