"""The regenerator under `torchrun --nproc_per_node=2` (DDP on gloo, CPU): the same training as
one process with the same global batch, checkpoints that resume and load in a single process,
and `unids regenerate` writing the same stage dataset as without torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner

import builders
from builders import make_dataset
from unids.cli import main
from unids.formats import format_dataset
from unids.regen import RegeneratorConfig, build_pairs, fit_regenerator, load_regenerator

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TESTS = Path(__file__).resolve().parent
CONFIG = {"dim": 16, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "memories": 3,
          "dropout": 0.0, "max_source_len": 64, "max_target_len": 8}
#: 92 pairs in batches of 13: the last batch has one row, so rank 1 has none there (it runs a
#: row at weight 0), and ranks see uneven token counts in every batch.
TRAINING = {"epochs": 3, "batch_size": 13, "lr": 5e-3, "seed": 3, "device": "cpu",
            "progress": False}

#: Trains under torchrun and stops ("crashes") after epoch 2, leaving checkpoint.pt behind.
SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import torch
from test_regen_ddp import CONFIG, TRAINING, tiny_pairs
from unids.regen import RegeneratorConfig, fit_regenerator
from unids.train.distributed import teardown

class Stop(Exception):
    pass

def stop(epoch, record):
    if epoch == 2:
        raise Stop

torch.set_num_threads(1)
pairs = tiny_pairs()
try:
    fit_regenerator(pairs, pairs.vocab_size, RegeneratorConfig(**CONFIG), sys.argv[1],
                    on_epoch=stop, batching=sys.argv[2], **TRAINING)
except Stop:
    # Both ranks stop after the same epoch; rank 0 is still writing its checkpoint when
    # rank 1 gets here, and tearing gloo down under a peer that is still connected can abort
    # the process (seen on CI): meet first, then tear down.
    torch.distributed.barrier()
finally:
    teardown()
"""


def planted_sequences(n_users: int = 20, events: int = 14) -> list[list[int]]:
    return builders.planted_sequences(n_users, events)


def tiny_pairs() -> Any:
    formatted = format_dataset(make_dataset(planted_sequences()), "recall")
    return build_pairs(formatted, max_source_len=CONFIG["max_source_len"],
                       max_target_len=CONFIG["max_target_len"])


def torchrun(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc_per_node=2", *arguments],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()  # the bare model's names: no DDP `module.` prefix
    difference = sum(float((a[k] - b[k]).pow(2).sum()) for k in a) ** 0.5
    return difference / sum(float(a[k].pow(2).sum()) for k in a) ** 0.5


def history_of(run_dir: Path) -> list[dict[str, Any]]:
    return json.loads((run_dir / "run.json").read_text())["state"]["history"]


@pytest.mark.parametrize("batching", ["pairs", "sources"])
def test_ddp_training_matches_one_process_and_resumes_in_one(tmp_path: Path,
                                                             batching: str) -> None:
    """With "sources" batching the ranks take contiguous slices and encode each distinct
    source of theirs once: still one process's update."""
    pairs = tiny_pairs()
    assert len(pairs) % TRAINING["batch_size"] == 1  # the weight-0 row of rank 1 is exercised
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT.format(tests=str(TESTS)))
    torchrun(str(script), str(tmp_path / "ddp"), batching)
    assert json.loads((tmp_path / "ddp" / "run.json").read_text())["world_size"] == 2

    config = RegeneratorConfig(**CONFIG)
    training = {**TRAINING, "batching": batching}
    single, single_history = fit_regenerator(pairs, pairs.vocab_size, config,
                                             tmp_path / "single", **training)
    ddp_history = history_of(tmp_path / "ddp")
    assert len(ddp_history) == 2
    for mine, theirs in zip(ddp_history, single_history, strict=False):
        for key in ("loss", "rec", "entropy"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-5), key

    # The DDP run's checkpoint resumes in this single process and ends where one process does.
    resumed, history = fit_regenerator(pairs, pairs.vocab_size, config, tmp_path / "ddp",
                                       resume=True, **training)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] == pytest.approx(single_history[-1]["loss"], rel=1e-4)
    # Adam turns float-order noise (1e-7) into a relative weight difference of ~3e-4 here;
    # a run with another batch composition (seed) differs by tens of percent.
    assert relative_difference(single.state_dict(), resumed.state_dict()) < 1e-2
    loaded, meta = load_regenerator(tmp_path / "ddp" / "regenerator.pt")
    assert meta["train"]["epochs"] == 3
    assert relative_difference(single.state_dict(), loaded.state_dict()) < 1e-2
    other, _ = fit_regenerator(pairs, pairs.vocab_size, config, tmp_path / "other",
                               **{**training, "seed": 4})
    assert relative_difference(single.state_dict(), other.state_dict()) > 0.1


def test_regenerate_under_torchrun_writes_the_same_stage_dataset(tmp_path: Path) -> None:
    make_dataset(planted_sequences()).save(tmp_path / "dataset")
    (tmp_path / "tiny.toml").write_text(
        "[regenerator]\n" + "".join(f"{k} = {v}\n" for k, v in CONFIG.items())
        + "[train]\nbatch_size = 13\nlr = 0.005\ndevice = \"cpu\"\n")
    arguments = ["regenerate", "--stage", "recall", str(tmp_path / "dataset"), "--epochs", "3",
                 "--memories", "3", "--config", str(tmp_path / "tiny.toml"), "--quiet", "--json"]
    ddp = torchrun("-m", "unids", *arguments, "-o", str(tmp_path / "ddp"))
    single = CliRunner().invoke(main, [*arguments, "-o", str(tmp_path / "single")])
    assert single.exit_code == 0, single.output
    ddp_summary = json.loads(ddp.stdout)  # one JSON document: rank 0 alone reports
    assert ddp_summary["stages"]["recall"]["pairs"] == 92
    assert json.loads((tmp_path / "ddp" / "summary.json").read_text()) == ddp_summary

    runs = {name: tmp_path / name / "recall" / "regenerator" for name in ("ddp", "single")}
    ddp_history, single_history = history_of(runs["ddp"]), history_of(runs["single"])
    for mine, theirs in zip(ddp_history, single_history, strict=True):
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-5)
    weights = {name: torch.load(run / "regenerator.pt", weights_only=False)["model"]
               for name, run in runs.items()}
    assert relative_difference(weights["single"], weights["ddp"]) < 1e-2
    # Greedy decoding from (nearly) equal weights: the same segments, hence the same rows.
    for name in ("generated/segments.parquet", "rows.parquet", "eval.parquet"):
        a = pq.read_table(tmp_path / "single" / "recall" / name)
        b = pq.read_table(tmp_path / "ddp" / "recall" / name)
        assert a.equals(b), name
