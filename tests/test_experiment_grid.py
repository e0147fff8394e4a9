"""`unids experiment`: the grid, its shards, restarts, merging and the reports beside the
published numbers — on the synthetic planted dataset with tiny models."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from unids.cli import main
from unids.errors import UserError
from unids.experiments.artifacts import try_exclusive
from unids.experiments.cell import (
    STAGES,
    Cell,
    data_stage,
    data_twin,
    regenerate_step,
    reused_from,
    train_step,
)
from unids.experiments.datasets import DatasetSource
from unids.experiments.grid import (
    load_experiment,
    parse_shard,
    queue_lock,
    read_records,
    take_from_queue,
)
from unids.experiments.published import TABLES, lookup, published_rows
from unids.experiments.report import write_report
from unids.train.checkpoint import evaluate_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).parent.parent
TINY = """
[train]
epochs = 2
batch_size = 32
lr = 0.01
warmup_steps = 1
device = "cpu"

[model]
dim = 16
blocks = 1
heads = 1
max_len = 20

[regenerate]
epochs = 1
device = "cpu"

[regenerator]
dim = 16
heads = 1
encoder_layers = 1
decoder_layers = 1
memories = 2
max_source_len = 40
"""


def experiment_file(tmp_path: Path, head: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(f"[experiment]\n{head}\n{TINY}")
    return path


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_every_shipped_experiment_loads_and_shards_cover_the_grid() -> None:
    for path in sorted((REPO / "configs" / "experiments").glob("*.toml")):
        experiment = load_experiment(path)
        names = [p.name for p in experiment.cells]
        assert len(names) == len(set(names)), path  # unique record names
        shards = [experiment.shard(i, 3) for i in range(3)]
        assert sorted(p.name for shard in shards for p in shard) == sorted(names)
        for shard in shards:  # a data group never straddles two shards
            groups = {p.group for p in shard}
            assert not groups & {p.group for other in shards if other is not shard
                                 for p in other}


def test_grid_size_sweep_and_overrides(tmp_path: Path) -> None:
    path = experiment_file(tmp_path, 'name = "x"\nreport = "fig2"\ndatasets = ["synthetic"]\n'
                           'backbones = ["sasrec", "hstu"]\nmethods = ["unids"]\n'
                           'stages = ["recall", "fine"]\nseeds = [0, 1]\n'
                           'sweep = { key = "format.theta_scale", values = [1.0, 1.5] }')
    experiment = load_experiment(path, overrides=["epochs=3"])
    assert len(experiment.cells) == 2 * 2 * 2 * 2
    first = experiment.cells[0]
    assert first.sweep == {"theta_scale": 1.0} and "theta_scale1.0" in first.name
    assert first.cell.train["epochs"] == 3
    assert first.cell.regenerate["format"]["theta_scale"] == 1.0
    # The same data group (dataset, stage, method, seed, θ) for both backbones.
    groups = {p.group for p in experiment.cells}
    assert len(groups) == 2 * 2 * 2


def test_only_picks_cells_by_their_swept_value(tmp_path: Path) -> None:
    path = experiment_file(tmp_path, 'name = "x"\nreport = "fig2"\ndatasets = ["synthetic"]\n'
                           'backbones = ["sasrec"]\nmethods = ["unids"]\n'
                           'stages = ["recall", "fine"]\nseeds = [0]\n'
                           'sweep = { key = "format.theta_scale", values = [1.2, 1.3, 1.4] }')
    code, output = cli("experiment", "x", "--config", str(path), "--list", "--results",
                       str(tmp_path / "results"), "--only", "stage=fine,sweep=1.30,sweep=1.4")
    assert code == 0, output
    assert [line.split()[-1] for line in output.splitlines() if line.startswith("pending")] \
        == ["synthetic-sasrec-fine-unids-theta_scale1.3-s0",
            "synthetic-sasrec-fine-unids-theta_scale1.4-s0"]
    code, output = cli("experiment", "x", "--config", str(path), "--list", "--only", "swept=1")
    assert code != 0 and "sweep=VALUE" in output


@pytest.mark.parametrize("text, message", [
    ("1/0", "--shard"), ("3/2", "--shard"), ("a/b", "--shard"), ("0/2", "--shard")])
def test_bad_shards(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_shard(text)


def test_bad_experiment_files_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[experiment]\nname = "x"\ndatasets = ["synthetic"]\nbackbones = ["sasrec"]\n'
                   'colour = "red"\n')
    code, output = cli("experiment", "x", "--config", str(bad), "--list")
    assert code != 0 and "unknown [experiment] key(s) colour" in output
    assert "Traceback" not in output
    code, output = cli("experiment", "no-such-experiment")
    assert code != 0 and "no experiment 'no-such-experiment'" in output
    # A report layout that does not exist is said before the grid runs, not after.
    bad.write_text('[experiment]\nname = "x"\nreport = "tabel1"\ndatasets = ["synthetic"]\n'
                   'backbones = ["sasrec"]\n')
    code, output = cli("experiment", "x", "--config", str(bad), "--workdir",
                       str(tmp_path / "work"), "--results", str(tmp_path / "results"))
    assert code != 0 and "report = 'tabel1' is no report layout" in output
    assert "Traceback" not in output and not (tmp_path / "work").exists()


def test_a_setting_in_both_a_dataset_and_a_backbone_table_is_refused(tmp_path: Path) -> None:
    """The backbone table is applied last, so it would silently override what the dataset
    table asks for (table1 once gave the Books sample HSTU's 200-item window that way)."""
    head = 'name = "x"\ndatasets = ["synthetic"]\nbackbones = ["sasrec"]\n'
    clash = "\n[dataset.synthetic.model]\nmax_len = 10\n\n[backbone.sasrec.model]\nmax_len = 30\n"
    path = experiment_file(tmp_path, head + clash)
    code, output = cli("experiment", "x", "--config", str(path), "--list")
    assert code != 0 and "Traceback" not in output
    assert "[dataset.synthetic] and [backbone.sasrec] both set model.max_len" in output
    apart = "\n[dataset.synthetic.model]\nmax_len = 10\n\n[backbone.sasrec.model]\nblocks = 2\n"
    [planned, *_] = load_experiment(experiment_file(tmp_path, head + apart)).cells
    assert (planned.cell.model["max_len"], planned.cell.model["blocks"]) == (10, 2)


def test_published_tables_load_with_our_names() -> None:
    for table in TABLES:
        assert published_rows(table)
    table1 = published_rows("unids_table1")
    assert lookup(table1, dataset="ml-1m", backbone="hstu", method="unids")["AUC"] == 0.8081
    assert lookup(table1, dataset="amazon-books-2014-sample", backbone="llama2rec",
                  method="frec")["MRR"] == 0.0278
    assert lookup(published_rows("unids_table3"), dataset="ml-1m",
                  method="unids-no-ug")["HR@10"] == 0.3268
    beauty = lookup(published_rows("dr4sr_beauty"), dataset="Beauty", backbone="sasrec",
                    method="dr4sr")
    assert beauty == {"HR@10": 0.0595, "HR@20": 0.0906, "NDCG@10": 0.0317, "NDCG@20": 0.0395}
    assert lookup(published_rows("unids_table2"), dataset="ml-1m", method="base",
                  max_seq_len=150)["AUC"] == 0.782


def test_shards_run_restart_merge_and_report(tmp_path: Path) -> None:
    path = experiment_file(tmp_path, 'name = "tiny"\nreport = "table1"\n'
                           'published = "unids_table1"\ndatasets = ["synthetic"]\n'
                           'backbones = ["sasrec"]\nmethods = ["base", "unids"]\n'
                           'stages = ["recall"]\nseeds = [0, 1]')
    common = ["--config", str(path), "--workdir", str(tmp_path / "work"), "--quiet"]
    first_results, second_results = tmp_path / "a", tmp_path / "b"
    code, output = cli("experiment", "tiny", *common, "--shard", "1/2",
                       "--results", str(first_results), "--reports", str(tmp_path / "r"))
    assert code == 0, output
    code, output = cli("experiment", "tiny", *common, "--shard", "2/2",
                       "--results", str(second_results), "--reports", str(tmp_path / "r"))
    assert code == 0, output
    one = sorted(p.stem for p in (first_results / "tiny").glob("*.json"))
    two = sorted(p.stem for p in (second_results / "tiny").glob("*.json"))
    assert len(one) == len(two) == 2 and not set(one) & set(two)
    record = json.loads((first_results / "tiny" / f"{one[0]}.json").read_text())
    assert record["experiment"] == "tiny" and record["config_hash"]
    assert record["cell"] == one[0] and set(record["test"]) >= {"MRR", "HR@10"}

    # A restart runs nothing: every cell of the shard has its record.
    code, output = cli("experiment", "tiny", *common, "--shard", "1/2", "--json",
                       "--results", str(first_results), "--reports", str(tmp_path / "r"))
    assert code == 0 and json.loads(output)["ran"] == []

    # Merged, the report has every cell: no pending line, both methods; nothing is published
    # for the synthetic data, so no "↳ paper" rows (test_published_rows_sit_under_ours).
    code, output = cli("experiment", "tiny", *common, "--report-only", "--results",
                       str(first_results), "--merge", str(second_results / "tiny"),
                       "--reports", str(tmp_path / "r"))
    assert code == 0, output
    report = (tmp_path / "r" / "tiny" / "report.md").read_text()
    assert "Cells run: 4 of 4" in report and "Pending cells" not in report
    assert "| unids |" in report and "| base |" in report and "↳ paper" not in report
    assert "Does UniDS beat base per stage?" in report
    records = read_records(first_results / "tiny", second_results / "tiny")
    assert len(records) == 4

    # Without the second shard the report lists what is missing and how to fill it.
    experiment = load_experiment(path, results_root=first_results)
    partial = write_report(experiment, read_records(first_results / "tiny"), tmp_path / "p")
    text = partial.read_text()
    assert "Cells run: 2 of 4" in text and "unids experiment tiny --only" in text


def test_merge_records_puts_another_experiments_cells_in_the_report(tmp_path: Path) -> None:
    """An experiment file's `merge_records` names experiments beside it whose records its
    report also reads (table3-ml-100k's UniDS row is table1-ml-100k's cells); its own
    records win for the same cell, and a name with no file beside it is a one-line error."""
    head = ('datasets = ["synthetic"]\nbackbones = ["sasrec"]\nmethods = ["base", "unids"]\n'
            'stages = ["fine"]\nseeds = [0]\nreport = "table1"\n')
    (tmp_path / "origin.toml").write_text(f'[experiment]\nname = "origin"\n{head}{TINY}')
    derived = tmp_path / "derived.toml"
    derived.write_text(f'[experiment]\nname = "derived"\nmerge_records = ["origin"]\n'
                       f'{head}{TINY}')
    results = tmp_path / "results"
    for experiment, method, auc in (("origin", "unids", 0.71), ("origin", "base", 0.61),
                                    ("derived", "base", 0.62)):
        record = _sweep_record("fine", method, 0, {}, {"AUC": auc})
        record.update(dataset="synthetic", backbone="sasrec",
                      cell=f"synthetic-sasrec-fine-{method}-s0")
        (results / experiment).mkdir(parents=True, exist_ok=True)
        (results / experiment / f"synthetic-sasrec-fine-{method}-s0.json").write_text(
            json.dumps(record))
    code, output = cli("experiment", "derived", "--config", str(derived), "--report-only",
                       "--results", str(results), "--reports", str(tmp_path / "r"))
    assert code == 0, output
    report = (tmp_path / "r" / "derived" / "report.md").read_text()
    assert "Cells run: 2 of 2" in report and f"`{results / 'origin'}/`" in report
    assert "0.7100" in report and "0.6200" in report and "0.6100" not in report

    derived.write_text(f'[experiment]\nname = "derived"\nmerge_records = ["orgin"]\n'
                       f'{head}{TINY}')
    code, output = cli("experiment", "derived", "--config", str(derived), "--report-only",
                       "--results", str(results), "--reports", str(tmp_path / "r"))
    assert code != 0 and "merge_records names no experiment file beside it: orgin" in output
    assert "Traceback" not in output


def test_a_cell_whose_training_has_a_record_takes_it(tmp_path: Path) -> None:
    """A GPU shard brings back records, not its step cache: on another machine (a fresh work
    directory) the cells that are those trainings take the records instead of training
    again. --records-only fills just those; a cell without one stays pending."""
    grid = ('datasets = ["synthetic"]\nbackbones = ["sasrec"]\nmethods = ["base"]\n'
            'seeds = [0]\n')
    shard = experiment_file(tmp_path, f'name = "gpu"\nreport = "table1"\n{grid}'
                            'stages = ["recall"]')
    code, output = cli("experiment", "gpu", "--config", str(shard), "--workdir",
                       str(tmp_path / "gpu-work"), "--results", str(tmp_path / "gpu-results"),
                       "--reports", str(tmp_path / "r"), "--quiet")
    assert code == 0, output
    [trained] = (tmp_path / "gpu-results" / "gpu").glob("*.json")
    trained = json.loads(trained.read_text())

    later = experiment_file(tmp_path, f'name = "later"\nreport = "table1"\n{grid}'
                            'stages = ["coarse", "fine"]')
    common = ["later", "--config", str(later), "--workdir", str(tmp_path / "here"),
              "--results", str(tmp_path / "results"), "--reports", str(tmp_path / "r"),
              "--merge", str(tmp_path / "gpu-results" / "gpu"), "--quiet", "--json"]
    code, output = cli("experiment", *common, "--list")
    assert code == 0 and [(c["done"], c["record"]) for c in json.loads(output)["cells"]] == \
        [(False, True), (False, False)]  # coarse: the recall record; fine: nothing yet
    code, output = cli("experiment", *common, "--records-only")
    assert code == 0, output
    assert json.loads(output)["ran"] == ["synthetic-sasrec-coarse-base-s0"]
    coarse = json.loads((tmp_path / "results" / "later" /
                         "synthetic-sasrec-coarse-base-s0.json").read_text())
    assert coarse["test"] == trained["test"] and coarse["config_hash"] == trained["config_hash"]
    assert (coarse["stage"], coarse["method"], coarse["experiment"]) == \
        ("coarse", "base", "later")
    assert any(note.startswith("not trained again") and "synthetic-sasrec-recall-base-s0" in note
               for note in coarse["notes"])
    assert sum("recall cell's training" in note for note in coarse["notes"]) == 1
    assert not (tmp_path / "here" / "train").exists()  # nothing trained
    assert reused_from(coarse) == "gpu" and reused_from(trained) is None
    report = (tmp_path / "r" / "later" / "report.md").read_text()
    assert "(not trained again; each record's notes name the cell): 1 from gpu." in report

    # Without --records-only the fine cell, which no record covers, trains here.
    code, output = cli("experiment", *common)
    assert code == 0 and json.loads(output)["ran"] == ["synthetic-sasrec-fine-base-s0"]
    assert len([p for p in (tmp_path / "here" / "train").iterdir()
                if not p.name.startswith(".")]) == 1


def test_a_queue_hands_out_groups_nobody_holds_regenerating_ones_first(
        tmp_path: Path) -> None:
    path = experiment_file(tmp_path, 'name = "tiny"\ndatasets = ["synthetic"]\n'
                           'backbones = ["sasrec"]\nmethods = ["base", "reppad", "unids"]\n'
                           'stages = ["recall"]\nseeds = [0, 1]')
    experiment = load_experiment(path, results_root=tmp_path / "results",
                                 workdir=tmp_path / "work")
    cells = list(experiment.cells)
    busy = next(p for p in cells if p.cell.method == "unids" and p.cell.seed == 1)
    finished = next(p for p in cells if p.cell.method == "base" and p.cell.seed == 0)
    (tmp_path / "results" / "tiny").mkdir(parents=True)
    taken = []
    # Another process runs `busy`'s group (a second open file holds the lock, as a second
    # process would) and, after this one listed the cells, finishes `finished`.
    with try_exclusive(queue_lock(experiment, busy.group)) as held:
        assert held
        (tmp_path / "results" / "tiny" / f"{finished.name}.json").write_text("{}")
        for planned in take_from_queue(cells, experiment):
            # The group being run stays held against every other process.
            with try_exclusive(queue_lock(experiment, planned.group)) as again:
                assert not again
            taken.append((planned.cell.method, planned.cell.seed))
    assert taken == [("unids", 0), ("base", 1), ("reppad", 0), ("reppad", 1)]
    with try_exclusive(queue_lock(experiment, busy.group)) as held:
        assert held  # released by the process that held it, and not taken by the queue


def test_queue_processes_share_one_grid(tmp_path: Path) -> None:
    """Two `--queue` processes over one work directory run every cell once between them."""
    path = experiment_file(tmp_path, 'name = "tiny"\nreport = "table1"\n'
                           'datasets = ["synthetic"]\n'
                           'backbones = ["sasrec"]\nmethods = ["base"]\n'
                           'stages = ["recall", "fine"]\nseeds = [0, 1]')
    command = [sys.executable, "-m", "unids", "experiment", "tiny", "--config", str(path),
               "--workdir", str(tmp_path / "work"), "--results", str(tmp_path / "results"),
               "--reports", str(tmp_path / "reports"), "--queue", "--quiet", "--json"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=environment) for _ in range(2)]
    outputs = [process.communicate(timeout=240) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    ran = [json.loads(stdout)["ran"] for stdout, _ in outputs]
    assert sorted(ran[0] + ran[1]) == sorted(p.stem for p in
                                              (tmp_path / "results" / "tiny").glob("*.json"))
    assert len(ran[0] + ran[1]) == 4


def test_published_rows_sit_under_ours(tmp_path: Path) -> None:
    """The paper's row under each of ours where the paper has the dataset, none elsewhere."""
    path = experiment_file(tmp_path, 'name = "both"\nreport = "table1"\n'
                           'published = "unids_table1"\ndatasets = ["ml-1m", "synthetic"]\n'
                           'backbones = ["hstu"]\nmethods = ["base", "unids"]\n'
                           'stages = ["recall"]\nseeds = [0]')
    experiment = load_experiment(path, results_root=tmp_path / "results")
    text = write_report(experiment, [], tmp_path / "r").read_text()
    ml_1m, synthetic = text.split("## ml-1m · hstu")[1].split("## synthetic · hstu")
    assert ml_1m.count("↳ paper") == 2 and "| ↳ paper | 0.7861 |" in ml_1m  # base's AUC
    assert "↳ paper" not in synthetic.split("## Does UniDS")[0]


def test_a_sweep_value_that_restates_the_default_reuses_the_cells_steps(tmp_path: Path) -> None:
    """fig2's θ and table2's max_len sweeps share a work directory with table1: a value equal
    to the default (the stage's θ scale, the backbone's max_len) must hit table1's cached
    regeneration and training instead of redoing them; any other value must not."""
    # The shared work directory named in the file, as the *-ml-100k experiments do.
    grid = ('datasets = ["synthetic"]\nbackbones = ["sasrec"]\nmethods = ["unids"]\n'
            f'stages = ["recall"]\nseeds = [0]\nworkdir = "{(tmp_path / "work").as_posix()}"\n')

    def hashes(name: str, sweep: str = "") -> list[str]:
        path = experiment_file(tmp_path, f'name = "{name}"\nreport = "fig2"\n{grid}{sweep}')
        code, output = cli("experiment", name, "--config", str(path), "--results",
                           str(tmp_path / "results"), "--reports", str(tmp_path / "r"),
                           "--quiet")
        assert code == 0, output
        records = sorted((tmp_path / "results" / name).glob("*.json"))
        return [json.loads(p.read_text())["config_hash"] for p in records]

    [plain] = hashes("plain")
    regenerations = len(list((tmp_path / "work" / "regenerate").iterdir()))
    assert hashes("theta", 'sweep = { key = "format.theta_scale", values = [1.2] }') == [plain]
    assert hashes("maxlen", 'sweep = { key = "train.max_len", values = [20] }') == [plain]
    assert len(list((tmp_path / "work" / "regenerate").iterdir())) == regenerations
    [other] = hashes("other", 'sweep = { key = "format.theta_scale", values = [1.4] }')
    assert other != plain
    assert len(list((tmp_path / "work" / "regenerate").iterdir())) > regenerations


def _identity(cell) -> tuple:
    return cell.dataset.spec, cell.backbone, cell.stage, cell.method, cell.seed


def _step_configs(cell) -> tuple:
    """What decides a cell's cached steps: its data, regeneration and training configs."""
    regenerate = regenerate_step(cell) if cell.data_level else None
    return cell.dataset.spec, regenerate, train_step(cell)[1]


@pytest.mark.parametrize(("derived", "origin", "shared"), [
    ("fig2", "table1", 9),        # θ 1.2 for recall and coarse, 1.4 for fine: 3 stages × 3 seeds
    ("table2", "table1", 18),     # the 200 row: {base, unids} × 3 stages × 3 seeds
    ("table3", "table1", 18),     # the UniDS row: 2 datasets × 3 stages × 3 seeds
    ("fig2-ml-100k", "table1-ml-100k", 9),
    ("table2-ml-100k", "table1-ml-100k", 18),
    ("table3-ml-100k", "table1-ml-100k", 9),
])
def test_shipped_experiments_share_their_table1_cells(derived: str, origin: str,
                                                      shared: int) -> None:
    """The paper grids name table1's work directory so that their cells equal to a table1
    cell are cache hits; that needs the same steps' configs, which a drifting setting in one
    file would silently break (a rerun of hours)."""
    a, b = (load_experiment(REPO / "configs" / "experiments" / f"{name}.toml")
            for name in (derived, origin))
    assert a.workdir == b.workdir
    origin_steps = {_identity(p.cell): _step_configs(p.cell) for p in b.cells}
    same = [p.name for p in a.cells
            if origin_steps.get(_identity(p.cell)) == _step_configs(p.cell)]
    assert len(same) == shared, same


def test_later_settings_key_only_the_trainings_that_change_them() -> None:
    """`reppad_times` came after records were keyed: at "original" (what those keys were made
    with), and for every method but RepPad, it must leave a training's key as it was, or
    every earlier record would stop matching its training; RepPad with shifted times is
    another training."""
    def key(method: str, *overrides: str) -> dict:
        plan = load_experiment(REPO / "configs" / "experiments" / "table1-ml-100k.toml",
                               overrides=list(overrides))
        [planned] = [p for p in plan.cells if p.name == f"ml-100k-hstu-recall-{method}-s0"]
        return train_step(planned.cell)[1]

    for method in ("base", "frec", "unids"):
        assert "reppad_times" not in key(method)["train"]
        assert key(method) == key(method, "reppad_times=shifted")
    assert "reppad_times" not in key("reppad", "reppad_times=original")["train"]
    assert key("reppad", "reppad_times=shifted")["train"]["reppad_times"] == "shifted"
    assert key("reppad") != key("reppad", "reppad_times=shifted")
    # HSTU's attention_segments (a later setting too) is keyed only when set.
    assert "attention_segments" not in key("reppad")["model"]
    assert key("reppad", "model.attention_segments=false") == key("reppad")
    segmented = key("reppad", "model.attention_segments=true")
    assert segmented["model"]["attention_segments"] is True
    assert segmented != key("reppad")


def test_a_setting_can_be_set_for_one_backbone_or_dataset() -> None:
    """`--set backbone.NAME.…` reaches that backbone's cells only, so a setting the other
    backbone lacks (HSTU's attention_segments) can be set on a grid with both."""
    path = REPO / "configs" / "experiments" / "table1.toml"
    with pytest.raises(UserError, match="llama2rec has no setting attention_segments"):
        load_experiment(path, overrides=["model.attention_segments=true"])
    plan = load_experiment(path, overrides=["backbone.hstu.model.attention_segments=true",
                                            "dataset.books.train.lr=0.0005"])
    for planned in plan.cells:
        model = dataclasses.asdict(planned.cell.model_config())
        assert model.get("attention_segments", False) is (planned.cell.backbone == "hstu")
        is_books = planned.name.startswith("books-")
        assert (planned.cell.train_config().lr == 0.0005) is is_books


def _sweep_record(stage: str, method: str, seed: int, sweep: dict, test: dict,
                  valid: dict | None = None) -> dict:
    return {"dataset": "ml-100k", "backbone": "hstu", "stage": stage, "method": method,
            "seed": seed, "sweep": sweep, "test": test, "valid": valid or test,
            "device": "cpu", "epochs": 1, "performance": {"tokens_per_epoch": 1000 + seed}}


def test_table2_report_checks_both_claims(tmp_path: Path) -> None:
    """Claim (1): base improves with length; claim (2): at the longest length the generated
    data's relative gain orders AUC ≥ NDCG@10 ≥ MRR. Built so that (1) holds for MRR and
    AUC but not NDCG@10, and (2) holds."""
    experiment = load_experiment(REPO / "configs" / "experiments" / "table2-ml-100k.toml")
    base = {50: (0.10, 0.20, 0.70), 100: (0.11, 0.19, 0.71), 200: (0.12, 0.21, 0.72)}
    auc_gain = {50: 1.03, 100: 1.04, 200: 1.05}  # grows with the length
    records = []
    for length, values in base.items():
        gain = (1.01, 1.02, auc_gain[length])  # MRR, NDCG@10, AUC
        for method, factor in (("base", (1, 1, 1)), ("unids", gain)):
            for stage, name, value, f in zip(("recall", "coarse", "fine"),
                                             ("MRR", "NDCG@10", "AUC"), values, factor,
                                             strict=True):
                records += [_sweep_record(stage, method, s, {"max_seq_len": length},
                                          {name: value * f}) for s in range(3)]
    text = write_report(experiment, records, tmp_path).read_text()
    assert "MRR: holds" in text and "NDCG@10: does not hold" in text and "AUC: holds" in text
    assert "relative gains AUC +5.00%, NDCG@10 +2.00%, MRR +1.00% — ordering holds" in text
    assert "AUC gain grows with the length: holds (+3.00% → +4.00% → +5.00%)" in text


def test_table2_gains_pair_the_seeds_both_have(tmp_path: Path) -> None:
    """UniDS on seed 0 only, base on 0–2 with a spread far larger than the effect: the gains
    are seed 0's (+1 %, +2 %, +3 %), each saying so, not seed 0 against a 3-seed mean."""
    experiment = load_experiment(REPO / "configs" / "experiments" / "table2-ml-100k.toml")
    records = []
    for length, gain in ((50, 1.01), (100, 1.02), (200, 1.03)):
        records += [_sweep_record("fine", "base", s, {"max_seq_len": length},
                                  {"AUC": 0.70 + 0.10 * s}) for s in range(3)]
        records.append(_sweep_record("fine", "unids", 0, {"max_seq_len": length},
                                     {"AUC": 0.70 * gain}))
    text = write_report(experiment, records, tmp_path).read_text()
    assert ("AUC gain grows with the length: holds (+1.00% (seed 0) → +2.00% (seed 0) → "
            "+3.00% (seed 0))") in text
    assert "+3.00% (seed 0) · paper" in text  # the Δ generated row at 200
    assert "every gain is negative" not in text
    for record in records:  # the same growth below base
        if record["method"] == "unids":
            record["test"]["AUC"] -= 0.05
    text = write_report(experiment, records, tmp_path).read_text()
    assert "grows with the length: holds (" in text and "every gain is negative" in text


def test_table1_direction_says_when_the_seeds_differ(tmp_path: Path) -> None:
    """UniDS vs base per stage: a UniDS cell with fewer seeds than base's is compared with
    base on the seeds both have, and the row names them; with the same seeds it says
    nothing."""
    experiment = load_experiment(REPO / "configs" / "experiments" / "table1-ml-100k.toml")
    base = [_sweep_record("fine", "base", s, {}, {"AUC": 0.78 + 0.001 * s}) for s in range(3)]
    unids = [_sweep_record("fine", "unids", s, {}, {"AUC": 0.79}) for s in range(3)]

    def fine_row(records: list[dict]) -> list[str]:
        text = write_report(experiment, records, tmp_path).read_text()
        return next(line for line in text.splitlines() if "| fine | AUC |" in line).split("|")

    partial = fine_row(base + unids[:1])
    assert partial[5].strip() == "+1.3% (seed 0)" and partial[6].strip() == "—"  # 0.79/0.78
    assert fine_row(base + unids[1:])[5].strip() == "+1.1% (seeds 1, 2)"  # 0.79 / 0.7815
    whole = fine_row(base + unids)
    assert whole[5].strip() == "+1.2%" and whole[6].strip() != "—"  # 0.79 / 0.781


def test_fig2_report_picks_theta_on_validation_not_test(tmp_path: Path) -> None:
    experiment = load_experiment(REPO / "configs" / "experiments" / "fig2-ml-100k.toml")
    records = []
    for theta in (1.2, 1.3, 1.4, 1.5):
        for stage, name in (("fine", "AUC"), ("coarse", "NDCG@10"), ("recall", "MRR")):
            # fine's validation peaks at the highest θ, the others' at the lowest; every
            # test curve peaks at 1.3, which must not decide anything.
            valid = theta if stage == "fine" else -theta
            test = -abs(theta - 1.3)
            records += [_sweep_record(stage, "unids", s, {"theta_scale": theta},
                                      {name: 0.5 + test / 10}, {name: 0.5 + valid / 10})
                        for s in range(3)]
    text = write_report(experiment, records, tmp_path).read_text()
    assert "| fine | AUC | 1.5 |" in text and "| recall | MRR | 1.2 |" in text
    assert "θ*(fine) ≥ θ*(coarse), θ*(recall): holds here" in text
    assert (tmp_path / "fig2.png").stat().st_size > 0


def test_table3_report_tests_each_ablation_and_names_a_shared_training(tmp_path: Path) -> None:
    """Each "UniDS above <variant>" verdict carries the relative difference and the paired
    p; a variant whose cells are UniDS's training (the same config_hash) says so."""
    experiment = load_experiment(REPO / "configs" / "experiments" / "table3-ml-100k.toml")
    records = []
    for seed in range(3):
        for method, mrr, auc in (("unids", 0.10, 0.80), ("unids-no-tc", 0.10, 0.79),
                                 ("unids-no-uf", 0.09 - seed / 1000, 0.81 + seed / 1000),
                                 ("unids-no-ug", 0.10 + seed / 100, 0.75)):
            for stage, name, value in (("recall", "MRR", mrr), ("fine", "AUC", auc)):
                twin = method == "unids-no-tc" and stage == "recall"
                record = _sweep_record(stage, method, seed, {}, {name: value})
                record.pop("sweep")
                record["config_hash"] = f"{'unids' if twin else method}-{stage}-{seed}"
                records.append(record)
    text = write_report(experiment, records, tmp_path).read_text()
    assert ("- UniDS above unids-no-tc (UniDS vs it, paired p): AUC yes (+1.3%, p = 0.000), "
            "NDCG@10 pending, HR@10 pending, MRR the same training (UniDS's data).") in text
    assert "unids-no-uf (UniDS vs it, paired p): AUC no (-1.4%, p = 0.003)" in text
    assert "MRR yes (+12.4%, p = 0.003)" in text
    assert "unids-no-ug (UniDS vs it, paired p): AUC yes (+6.7%, p = 0.000)" in text
    assert "MRR no (-9.1%, p = 0.225)" in text  # t = -√3, 2 degrees of freedom


def run_sasrec_grid(tmp_path: Path, methods: list[str], stages: list[str]) -> dict[str, dict]:
    """Runs a tiny synthetic SASRec grid (seed 0) in tmp_path/work; its records by cell."""
    path = experiment_file(tmp_path, f'name = "g"\nreport = "table1"\n'
                           f'datasets = ["synthetic"]\nbackbones = ["sasrec"]\n'
                           f'methods = {json.dumps(methods)}\nstages = {json.dumps(stages)}\n'
                           f'seeds = [0]')
    code, output = cli("experiment", "g", "--config", str(path), "--workdir",
                       str(tmp_path / "work"), "--results", str(tmp_path / "results"),
                       "--reports", str(tmp_path / "r"), "--quiet")
    assert code == 0, output
    return {p.stem: json.loads(p.read_text())
            for p in (tmp_path / "results" / "g").glob("*.json")}


def test_list_marks_a_record_trained_under_other_settings_stale(tmp_path: Path) -> None:
    """A record stays when the settings (or the code) change under it; `--list` says so by
    comparing its config_hash with the cell's training key of today."""
    run_sasrec_grid(tmp_path, ["base"], ["recall"])
    common = ["experiment", "g", "--config", str(tmp_path / "exp.toml"), "--workdir",
              str(tmp_path / "work"), "--results", str(tmp_path / "results"), "--list"]
    code, output = cli(*common, "--json")
    assert code == 0 and [(c["done"], c["current"]) for c in json.loads(output)["cells"]] == \
        [(True, True)]
    code, output = cli(*common, "--json", "--set", "epochs=3")
    assert code == 0 and [(c["done"], c["current"]) for c in json.loads(output)["cells"]] == \
        [(True, False)]
    code, output = cli(*common, "--set", "epochs=3")
    assert code == 0 and "stale   synthetic-sasrec-recall-base-s0" in output
    assert "1 of 1 done (1 stale" in output


def test_list_works_without_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine that holds records but not the dataset, `--list` lists them (whether a
    record is current, or another cell's record fills a cell, needs the data's checksum)."""
    monkeypatch.setenv("UNIDS_DATA", str(tmp_path / "no-data-here"))
    path = experiment_file(tmp_path, 'name = "g"\nreport = "table1"\ndatasets = ["ml-100k"]\n'
                           'backbones = ["sasrec"]\nmethods = ["base"]\n'
                           'stages = ["recall", "coarse"]\nseeds = [0]')
    results = tmp_path / "results" / "g"
    results.mkdir(parents=True)
    (results / "ml-100k-sasrec-recall-base-s0.json").write_text('{"config_hash": "abc"}')
    code, output = cli("experiment", "g", "--config", str(path), "--workdir",
                       str(tmp_path / "work"), "--results", str(tmp_path / "results"),
                       "--list", "--json")
    assert code == 0, output
    assert [(c["done"], c["record"], c["current"]) for c in json.loads(output)["cells"]] == \
        [(True, False, None), (False, False, None)]


def test_fine_ranking_of_the_retrieval_baselines_is_base_training(tmp_path: Path) -> None:
    """RepPad and FRec change retrieval training only: their fine cells are base's training,
    recorded under their own names; their recall cells train apart."""
    records = run_sasrec_grid(tmp_path, ["base", "reppad", "frec"], ["recall", "fine"])
    base = records["synthetic-sasrec-fine-base-s0"]
    for method in ("reppad", "frec"):
        fine = records[f"synthetic-sasrec-fine-{method}-s0"]
        assert fine["method"] == method and fine["config_hash"] == base["config_hash"]
        assert fine["test"] == base["test"] and any("base cell's training" in note
                                                    for note in fine["notes"])
    assert not any("base cell's training" in note for note in base["notes"])
    recall = {records[f"synthetic-sasrec-recall-{m}-s0"]["config_hash"]
              for m in ("base", "reppad", "frec")}
    assert len(recall) == 3
    trainings = [p for p in (tmp_path / "work" / "train").iterdir() if p.is_dir()
                 and not p.name.startswith(".")]
    assert len(trainings) == 4


def test_a_method_without_stage_settings_regenerates_recall_and_coarse_once(
        tmp_path: Path) -> None:
    """DR4SR formats recall and coarse ranking alike (window patterns, plain sequences): one
    regeneration and one training serve both cells; fine ranking regenerates its own (its
    stage dataset carries the labels). UniDS's recall and coarse formats differ (T tokens)."""
    records = run_sasrec_grid(tmp_path, ["dr4sr"], ["recall", "coarse", "fine"])
    recall, coarse, fine = (records[f"synthetic-sasrec-{s}-dr4sr-s0"]
                            for s in ("recall", "coarse", "fine"))
    assert coarse["config_hash"] == recall["config_hash"] and coarse["test"] == recall["test"]
    assert coarse["stage"] == "coarse" and fine["config_hash"] != recall["config_hash"]
    assert any("recall cell's training" in note for note in coarse["notes"])
    regenerations = [p for p in (tmp_path / "work" / "regenerate").iterdir() if p.is_dir()
                     and not p.name.startswith(".")]
    assert len(regenerations) == 2
    experiment = load_experiment(REPO / "configs" / "experiments" / "table3.toml")
    stages = {(p.cell.method, p.cell.stage): data_stage(p.cell) for p in experiment.cells}
    assert stages[("unids-no-uf", "coarse")] == "recall"  # θ 1.2 twice, no special tokens
    assert stages[("unids", "coarse")] == stages[("unids-no-tc", "coarse")] == "coarse"
    assert stages[("unids-no-uf", "fine")] == "fine"


def test_an_ablation_that_builds_unids_data_is_the_unids_cell(tmp_path: Path) -> None:
    """w/o TC gives every stage the recall θ, which recall has anyway: its recall cell is
    UniDS's regeneration and training, recorded under its own name with a note; its fine
    cell (θ 1.2 instead of 1.4) regenerates and trains apart from UniDS's fine cell, and is
    the training of a UniDS fine cell swept to θ 1.2 (fig2's), which then costs nothing."""
    records = run_sasrec_grid(tmp_path, ["unids", "unids-no-tc"], ["recall", "fine"])
    ours, ablated = (records[f"synthetic-sasrec-recall-{m}-s0"] for m in ("unids", "unids-no-tc"))
    assert ablated["method"] == "unids-no-tc" and ablated["stage"] == "recall"
    assert ablated["config_hash"] == ours["config_hash"] and ablated["test"] == ours["test"]
    assert any("unids cell's training" in note for note in ablated["notes"])
    assert not any("unids cell's training" in note for note in ours["notes"])
    fine = {m: records[f"synthetic-sasrec-fine-{m}-s0"] for m in ("unids", "unids-no-tc")}
    assert fine["unids"]["config_hash"] != fine["unids-no-tc"]["config_hash"]
    assert any("dataset at theta_scale 1.2: its cell is the unids cell's training" in note
               for note in fine["unids-no-tc"]["notes"])

    def regenerations() -> int:
        return sum(p.is_dir() and not p.name.startswith(".")
                   for p in (tmp_path / "work" / "regenerate").iterdir())

    assert regenerations() == 3
    swept = experiment_file(tmp_path, 'name = "s"\nreport = "fig2"\ndatasets = ["synthetic"]\n'
                            'backbones = ["sasrec"]\nmethods = ["unids"]\nstages = ["fine"]\n'
                            'seeds = [0]\nsweep = { key = "format.theta_scale", values = [1.2] }')
    code, output = cli("experiment", "s", "--config", str(swept), "--workdir",
                       str(tmp_path / "work"), "--results", str(tmp_path / "results"),
                       "--reports", str(tmp_path / "r"), "--quiet")
    assert code == 0, output
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "results" / "s").glob("*.json")]
    assert record["config_hash"] == fine["unids-no-tc"]["config_hash"]
    assert record["test"] == fine["unids-no-tc"]["test"] and regenerations() == 3


def test_data_twins_of_the_shipped_ablations() -> None:
    """Which table3 cells are another method's (the grid's groups follow): w/o TC's recall and
    coarse cells are UniDS's; its fine cell is UniDS's at the recall θ scale (fig2's 1.2
    fine cell, not table3's UniDS fine cell at 1.4); every other variant builds data of its
    own."""
    experiment = load_experiment(REPO / "configs" / "experiments" / "table3.toml")
    twins = {(p.cell.method, p.cell.stage): data_twin(p.cell) for p in experiment.cells
             if p.cell.data_level}
    for stage in ("recall", "coarse"):
        method, settings = twins[("unids-no-tc", stage)]
        assert method == "unids" and "theta_scale" not in settings.format_options
    method, settings = twins[("unids-no-tc", "fine")]
    assert method == "unids" and settings.format_options["theta_scale"] == 1.2
    for method in ("unids", "unids-no-uf", "unids-no-ug"):
        assert {twins[(method, stage)][0] for stage in STAGES} == {method}
    groups = {p.group for p in experiment.cells if p.cell.method in ("unids", "unids-no-tc")}
    assert len(groups) == 2 * 3 * 3 + 2 * 3  # UniDS's 3 stages, w/o TC's fine, × 2 datasets
    swept = Cell(DatasetSource("synthetic"), "sasrec", "fine", "unids-no-tc",
                 regenerate={"format": {"theta_scale": 1.4}})
    assert data_twin(swept) == ("unids", swept.regenerate_settings())
    window = Cell(DatasetSource("synthetic"), "sasrec", "fine", "dr4sr")
    assert data_twin(window) == ("dr4sr", window.regenerate_settings())


def test_table3_without_tc_at_fine_ranking_is_fig2_at_the_recall_theta() -> None:
    """w/o TC's fine cells build the stage dataset of fig2's θ 1.2 fine cells (the same
    formatting, regenerator and seed) and share the work directory: the same steps, so
    `unids experiment table3 --records-only` takes fig2's records for them."""
    table3, fig2 = (load_experiment(REPO / "configs" / "experiments" / f"{name}.toml")
                    for name in ("table3", "fig2"))
    assert table3.workdir == fig2.workdir
    swept = {(p.cell.dataset.spec, p.cell.seed): _step_configs(p.cell) for p in fig2.cells
             if p.cell.stage == "fine" and p.sweep == {"theta_scale": 1.2}}
    ablated = [p for p in table3.cells if p.cell.method == "unids-no-tc"
               and p.cell.stage == "fine" and p.cell.dataset.spec == "ml-1m"]
    assert len(ablated) == len(swept) == 3
    for planned in ablated:
        key = (planned.cell.dataset.spec, planned.cell.seed)
        assert _step_configs(planned.cell) == swept[key]


def test_coarse_on_the_original_data_is_the_recall_training(tmp_path: Path) -> None:
    """base's recall and coarse cells train one task on one dataset: one training step, two
    records; unids's stage datasets differ, so its cells train apart."""
    records = run_sasrec_grid(tmp_path, ["base", "unids"], ["recall", "coarse"])
    recall, coarse = (records[f"synthetic-sasrec-{s}-base-s0"] for s in ("recall", "coarse"))
    assert coarse["stage"] == "coarse" and recall["stage"] == "recall"
    assert coarse["config_hash"] == recall["config_hash"] and coarse["test"] == recall["test"]
    assert any("recall cell's training" in note for note in coarse["notes"])
    unids = [records[f"synthetic-sasrec-{s}-unids-s0"] for s in ("recall", "coarse")]
    assert unids[0]["config_hash"] != unids[1]["config_hash"]
    trainings = [p for p in (tmp_path / "work" / "train").iterdir() if p.is_dir()
                 and not p.name.startswith(".")]
    assert len(trainings) == 3
    # `unids evaluate` reads a UniDS cell's checkpoint with its stage dataset (the one the
    # checkpoint names) and scores what the record says.
    step = tmp_path / "work" / "train" / unids[0]["config_hash"][:12]
    again = evaluate_checkpoint(step / "best.pt", split="test", device="cpu")
    assert again == pytest.approx(unids[0]["test"], rel=1e-6)


def test_recalibrate_adds_the_calibrated_logloss_only_where_the_checkpoint_reproduces(
        tmp_path: Path) -> None:
    """`--recalibrate` gives a fine record written before training recorded its calibrated
    logloss the fields training writes today, from its best checkpoint; a record that the
    checkpoint does not reproduce, or whose training is gone, is left as it was."""
    records = run_sasrec_grid(tmp_path, ["base", "reppad"], ["fine"])
    results = tmp_path / "results" / "g"
    trained = json.loads(json.dumps(records["synthetic-sasrec-fine-base-s0"]))  # a copy
    assert "logloss_calibrated" in trained["test"] and trained["calibration"] is not None
    for name, record in records.items():  # as records of before the field was recorded
        del record["test"]["logloss_calibrated"], record["calibration"]
        if name.endswith("reppad-s0"):
            record["test"]["AUC"] += 0.01
        (results / f"{name}.json").write_text(json.dumps(record))
    tampered = (results / "synthetic-sasrec-fine-reppad-s0.json").read_text()
    common = ["experiment", "g", "--config", str(tmp_path / "exp.toml"), "--workdir",
              str(tmp_path / "work"), "--results", str(tmp_path / "results"), "--reports",
              str(tmp_path / "r"), "--recalibrate", "--json"]

    code, output = cli(*common)
    assert code == 0, output
    status = {o["cell"]: o["status"] for o in json.loads(output)["recalibrated"]}
    assert status == {"synthetic-sasrec-fine-base-s0": "added",
                      "synthetic-sasrec-fine-reppad-s0": "mismatch"}
    again = json.loads((results / "synthetic-sasrec-fine-base-s0.json").read_text())
    assert again["test"]["logloss_calibrated"] == pytest.approx(
        trained["test"]["logloss_calibrated"], rel=1e-6)
    for field in ("scale", "shift"):
        assert again["calibration"][field] == pytest.approx(trained["calibration"][field],
                                                            rel=1e-6)
    assert again["calibration"]["fitted_on"] == "valid"
    assert any("--recalibrate" in note for note in again["notes"])
    assert (results / "synthetic-sasrec-fine-reppad-s0.json").read_text() == tampered
    # The report shows both loglosses where a record has them, "—" where it does not.
    report = (tmp_path / "r" / "g" / "report.md").read_text()
    rows = {line.split("|")[3].strip(): line.split("|")[4:6] for line in
            report.split("## Fine ranking: test logloss")[1].splitlines()
            if line.startswith("| synthetic")}
    assert float(rows["base"][1]) == pytest.approx(again["test"]["logloss_calibrated"],
                                                   abs=1e-4)
    assert rows["reppad"][1].strip() == "—"

    code, output = cli(*common)  # nothing left to add
    assert code == 0 and {o["status"] for o in json.loads(output)["recalibrated"]} \
        == {"current", "mismatch"}

    del again["test"]["logloss_calibrated"], again["calibration"]
    (results / "synthetic-sasrec-fine-base-s0.json").write_text(json.dumps(again))
    for best in (tmp_path / "work" / "train").glob("*/best.pt"):  # a damaged checkpoint
        best.write_bytes(b"not a checkpoint")
    code, output = cli(*common)
    assert code == 0, output
    outcome = json.loads(output)["recalibrated"][0]
    assert outcome["status"] == "unreadable" and "not a unids checkpoint" in outcome["detail"]
    for best in (tmp_path / "work" / "train").glob("*/best.pt"):  # the training is gone
        best.unlink()
    code, output = cli(*common)
    assert code == 0 and json.loads(output)["recalibrated"][0]["status"] == "no checkpoint"
