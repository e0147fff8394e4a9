"""`unids regenerate --init-from`: the regenerator's item vectors start from a trained backbone's
(`unids.regen.backbone`), and a backbone that does not fit is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from builders import make_dataset
from unids.cli import main
from unids.data.dataset import Dataset
from unids.errors import InputError, UserError
from unids.formats import format_dataset
from unids.regen.backbone import TOKEN_TABLE, backbone_item_table
from unids.train import TrainConfig, fit, task_data

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: lr 1e-9: two epochs of Adam move no weight by more than ~1e-8, so the saved regenerator
#: still holds the vectors it started from.
REGENERATOR = """
[regenerator]
dim = 16
heads = 2
encoder_layers = 1
decoder_layers = 1
dropout = 0.0
max_source_len = 64
max_target_len = 12
[train]
batch_size = 32
lr = 1e-9
device = "cpu"
"""


def sequences(n_users: int = 12, items: int = 20) -> list[list[int]]:
    return [[(3 * u + t) % items + 1 for t in range(10 + u % 5)] for u in range(n_users)]


def train_backbone(dataset: Dataset, run_dir: Path, dim: int) -> Path:
    config = TrainConfig(epochs=1, batch_size=8, device="cpu", warmup_steps=1)
    fit(task_data(dataset), "sasrec", config, run_dir, progress=False,
        model_overrides={"dim": dim, "blocks": 1, "heads": 1, "max_len": 20, "dropout": 0.0})
    return run_dir / "best.pt"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("init")
    dataset = make_dataset(sequences())
    dataset.save(root / "dataset")
    (root / "tiny.toml").write_text(REGENERATOR)
    return {"root": root, "dataset": dataset,
            "backbone": train_backbone(dataset, root / "backbone", dim=16),
            "narrow": train_backbone(dataset, root / "narrow", dim=8),
            "other": train_backbone(make_dataset(sequences(items=23)), root / "other", dim=16)}


def regenerate(setup: dict[str, Any], *extra: str) -> Any:
    return CliRunner().invoke(main, [
        "regenerate", "--stage", "fine", str(setup["root"] / "dataset"), "--epochs", "2",
        "--memories", "2", "--config", str(setup["root"] / "tiny.toml"), "--quiet", "--json",
        *extra])


def test_the_regenerator_starts_from_the_backbones_item_vectors(setup: dict[str, Any],
                                                                tmp_path: Path) -> None:
    n_items = setup["dataset"].n_items
    raw = torch.load(setup["backbone"], weights_only=False)["model"][TOKEN_TABLE]
    # `--init-from` copies the rows rescaled to the regenerator's initial RMS (1/√d).
    backbone = backbone_item_table(setup["backbone"],
                                   format_dataset(setup["dataset"], "fine").vocabulary, 16,
                                   rescale=True)
    scale = float(backbone[1 : n_items + 1].norm() / raw[1 : n_items + 1].norm())
    torch.testing.assert_close(backbone, raw * scale)
    result = regenerate(setup, "-o", str(tmp_path / "init"), "--init-from",
                        str(setup["backbone"]))
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "init" / "fine" / "stage.json").read_text())
    assert manifest["regenerator"]["init_from"] == str(setup["backbone"])
    saved = torch.load(tmp_path / "init" / "fine" / "regenerator" / "regenerator.pt",
                       weights_only=False)["model"]["token_embedding.weight"]
    assert saved.shape[0] > n_items + 1  # the fine stage adds behaviour and segment tokens
    torch.testing.assert_close(saved[1 : n_items + 1], backbone[1 : n_items + 1], rtol=0,
                               atol=1e-6)
    # Without --init-from the same run starts elsewhere.
    result = regenerate(setup, "-o", str(tmp_path / "scratch"))
    assert result.exit_code == 0, result.output
    scratch = torch.load(tmp_path / "scratch" / "fine" / "regenerator" / "regenerator.pt",
                         weights_only=False)["model"]["token_embedding.weight"]
    torch.testing.assert_close(scratch[n_items + 1 :], saved[n_items + 1 :], rtol=0, atol=1e-6)
    assert float((scratch[1 : n_items + 1] - backbone[1 : n_items + 1]).abs().max()) > 0.05


def test_rescaling_and_a_backbone_that_does_not_fit(setup: dict[str, Any],
                                                          tmp_path: Path) -> None:
    vocabulary = format_dataset(setup["dataset"], "recall").vocabulary
    table = backbone_item_table(setup["backbone"], vocabulary, 16)
    rescaled = backbone_item_table(setup["backbone"], vocabulary, 16, rescale=True)
    items = slice(1, vocabulary.n_items + 1)
    assert float(rescaled[items].pow(2).mean().sqrt()) == pytest.approx(16**-0.5, rel=1e-5)
    ratio = rescaled[items] / table[items]
    torch.testing.assert_close(ratio, torch.full_like(ratio, float(ratio[0, 0])))
    with pytest.raises(UserError, match="23 items, but this dataset has 20"):
        backbone_item_table(setup["other"], vocabulary, 16)
    with pytest.raises(UserError, match="set \\[regenerator\\] dim = 8"):
        backbone_item_table(setup["narrow"], vocabulary, 16)
    not_a_checkpoint = tmp_path / "x.pt"
    torch.save({"model": {}}, not_a_checkpoint)
    with pytest.raises(InputError, match="not a unids train checkpoint"):
        backbone_item_table(not_a_checkpoint, vocabulary, 16)
    (tmp_path / "garbage.pt").write_text("no")
    for extra in (["--init-from", str(setup["other"])],
                  ["--init-from", str(setup["narrow"])],
                  ["--init-from", str(tmp_path / "garbage.pt")],
                  ["--init-from", str(setup["backbone"]), "--method", "unids-no-ug"]):
        result = regenerate(setup, "-o", str(tmp_path / "out"), *extra)
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and result.output.count("\n") == 1
