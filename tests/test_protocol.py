"""The leave-last-out protocol (`TrainConfig.protocol`): the HSTU reference's split, where
training reads all but each user's last interaction and no validation split exists."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from builders import make_dataset
from unids.formats import format_dataset
from unids.pipeline import assemble_stage
from unids.regen import Generated
from unids.train import TrainConfig, fit, task_data
from unids.train.data import LEAVE_LAST_OUT_NOTE, Ragged, with_validation_item
from unids.train.stage_data import stage_task_data

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def rows(ragged: Ragged) -> list[list[int]]:
    return [ragged.values[a:b].tolist()
            for a, b in zip(ragged.offsets[:-1], ragged.offsets[1:], strict=True)]


SEQUENCES = [[1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 7, 8, 9], [3, 1, 2, 3, 4]]
RATINGS = [[5.0, 1.0, 4.0, 2.0, 5.0, 3.0], [1.0, 5.0, 5.0, 2.0, 4.0, 1.0, 5.0],
           [4.0, 4.0, 1.0, 5.0, 2.0]]


def test_original_rows_gain_the_validation_item() -> None:
    data = task_data(make_dataset(SEQUENCES, ratings=RATINGS))
    moved = with_validation_item(data)
    assert rows(moved.tokens) == [row[:-1] for row in SEQUENCES]
    assert rows(moved.times) == [list(range(len(row) - 1)) for row in SEQUENCES]
    # Labels: rating ≥ 4 → 1, the appended one is the validation item's own.
    assert rows(moved.labels) == [[int(r >= 4) for r in row[:-1]] for row in RATINGS]
    assert rows(moved.behaviors) == rows(data.cases["test"].history_behaviors)
    assert [len(row) for row in rows(moved.behaviors)] == [len(row) - 1 for row in SEQUENCES]
    assert moved.cases is data.cases and moved.notes[-1] == LEAVE_LAST_OUT_NOTE
    # The test case is untouched: its target is still never trained on.
    assert data.cases["test"].target.tolist() == [row[-1] for row in SEQUENCES]


def test_regenerated_rows_stay_as_they_are() -> None:
    dataset = make_dataset(SEQUENCES * 3)
    formatted = format_dataset(dataset, "recall")
    segment = [2, 3]
    generated = Generated(
        segments=pa.table({"user": pa.array([2], pa.int32()), "memory": pa.array([0], pa.int32()),
                           "tokens": pa.array([segment], pa.list_(pa.int32())),
                           "items": pa.array([segment], pa.list_(pa.int32()))}),
        users=np.array([], np.int32), representations=np.zeros((0, 4), np.float32),
        manifest={"segments": 1})
    data = stage_task_data(assemble_stage(dataset, formatted, generated, stage="recall"))
    assert data.row_generated is not None and data.row_generated.sum() == 1
    moved = with_validation_item(data)
    before, after = rows(data.tokens), rows(moved.tokens)
    test_history = rows(data.cases["test"].history)
    case_of = {int(u): i for i, u in enumerate(data.cases["test"].users)}
    for row, generated_row in enumerate(data.row_generated):
        if generated_row:
            assert after[row] == before[row] == segment
        else:
            case = case_of[int(data.row_users[row])]
            assert after[row] == test_history[case]
            assert after[row][-1] == data.cases["valid"].target[case]


def test_fit_trains_a_fixed_number_of_epochs_without_validation(tmp_path: Path) -> None:
    data = task_data(make_dataset([[(3 * u + t) % 30 + 1 for t in range(12)] for u in range(20)]))
    config = TrainConfig(epochs=3, patience=1, lr=1e-2, batch_size=8, warmup_steps=1,
                         device="cpu", protocol="leave-last-out")
    record = fit(data, "sasrec", config, tmp_path, progress=False,
                 model_overrides={"dim": 8, "blocks": 1, "heads": 1, "max_len": 16})
    assert record["epochs"] == 3 and record["best_epoch"] == 3  # patience cannot stop it
    assert record["valid"] == {} and set(record["test"]) >= {"HR@10", "NDCG@10", "MRR"}
    assert record["notes"] == [LEAVE_LAST_OUT_NOTE]
    assert record["config"]["train"]["protocol"] == "leave-last-out"


def test_unknown_protocol_is_a_user_error() -> None:
    from unids.errors import UserError

    with pytest.raises(UserError, match="protocol"):
        TrainConfig(protocol="leave-two-out")  # type: ignore[arg-type]


def test_sasrec_l2_norm_option_normalises_and_sets_the_temperature() -> None:
    import torch

    from unids.models import Vocab, build_backbone
    from unids.models.inputs import SequenceInput
    from unids.train.loop import objective_of

    vocab = Vocab(n_items=20, n_tokens=21)
    plain = build_backbone("sasrec", vocab, {"dim": 8, "blocks": 1, "max_len": 8})
    normed = build_backbone("sasrec", vocab, {"dim": 8, "blocks": 1, "max_len": 8,
                                              "l2_norm": True})
    assert not plain.normalize and normed.normalize
    tokens = torch.tensor([[0, 3, 4, 5]])
    batch = SequenceInput(tokens=tokens)
    hidden = normed.output(normed(batch))
    assert torch.allclose(hidden[0, 1:].norm(dim=-1), torch.ones(3), atol=1e-5)
    assert torch.allclose(normed.item_table()[1:].norm(dim=-1), torch.ones(20), atol=1e-5)
    config = TrainConfig()
    assert objective_of(config, normed.normalize, 20).temperature == 0.05
    assert objective_of(config, plain.normalize, 20).temperature == 1.0
