"""The command line as a user meets it: commands, outputs, JSON, config files, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from unids.cli import main

LOG = "user_id,item_id,timestamp\n" + "".join(
    # Three users who each watch 1 2 3 in a row, with other items around it.
    f"{u},{item},{t}\n"
    for u in (1, 2, 3)
    for t, item in enumerate([10 + u, 1, 2, 3, 20 + u, 1, 2, 3, 30 + u, 40 + u, 50 + u])
)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "log.csv"
    path.write_text(LOG)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_help_has_examples() -> None:
    for command in ("entropy", "mine", "segment", "demo"):
        code, out, _ = run(command, "--help")
        assert code == 0
        assert "Examples:" in out


def test_mine_then_segment(log: Path, tmp_path: Path) -> None:
    patterns = tmp_path / "patterns.parquet"
    code, out, _ = run("mine", str(log), "-o", str(patterns), "--json")
    assert code == 0, out
    summary = json.loads(out)
    table = pq.read_table(patterns)
    assert summary["patterns"] == table.num_rows
    assert [1, 2, 3] in table["pattern"].to_pylist()
    segments = tmp_path / "segments.parquet"
    code, out, _ = run("segment", str(log), "--patterns", str(patterns), "-o", str(segments),
                       "--json")
    assert code == 0, out
    rows = pq.read_table(segments).to_pylist()
    for row in rows:
        assert sum(row["segment_lengths"]) == len(row["items"])
        assert len(row["items"]) == 9  # 11 interactions minus the 2 held out


def test_holdout_zero_sees_everything(log: Path) -> None:
    _, out, _ = run("entropy", str(log), "--holdout", "0", "--json")
    assert json.loads(out)["interactions"] == 33
    _, out, _ = run("entropy", str(log), "--json")
    assert json.loads(out)["interactions"] == 27


def test_entropy_writes_one_row_per_user(log: Path, tmp_path: Path) -> None:
    output = tmp_path / "entropy.parquet"
    code, out, _ = run("entropy", str(log), "-o", str(output))
    assert code == 0, out
    table = pq.read_table(output)
    assert table.column_names == ["user_id", "length", "distinct_items", "entropy_bits",
                                  "pi_max", "saturated"]
    assert table["user_id"].to_pylist() == [1, 2, 3]


def test_config_file_sets_defaults_and_cli_overrides(log: Path, tmp_path: Path) -> None:
    config = tmp_path / "unids.toml"
    config.write_text("[mine]\nmax_len = 2\nmin_support = 3\n")
    _, out, _ = run("--config", str(config), "mine", str(log), "--json")
    assert set(json.loads(out)["by_length"]) == {"2"}
    _, out, _ = run("--config", str(config), "mine", str(log), "--json", "--max-len", "3")
    assert "3" in json.loads(out)["by_length"]


def test_window_miner(log: Path) -> None:
    code, out, _ = run("mine", str(log), "--miner", "window", "--json")
    assert code == 0
    assert json.loads(out)["patterns"] > 0


def test_user_error_is_one_line_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,timestamp\n1,2,3\n1,x,4\n")
    code, _, err = run("mine", str(bad))
    assert code == 2
    assert err.strip() == f"error: {bad}, line 3, column 'item_id': 'x' is not an integer"


def test_no_traceback_from_the_real_executable(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id;item_id\n1;2\n")
    process = subprocess.run([sys.executable, "-m", "unids", "entropy", str(bad)],
                             capture_output=True, text=True, check=False)
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    assert len(process.stderr.strip().splitlines()) == 1
    assert "separator" in process.stderr


def test_failed_run_leaves_no_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,timestamp\n1,2,nan\n")
    output = tmp_path / "out.parquet"
    code, _, _ = run("mine", str(bad), "-o", str(output))
    assert code == 2
    assert not output.exists()


def test_demo_recovers_planted_patterns() -> None:
    code, out, _ = run("demo", "--json", "--users", "600", "--mining-only")
    assert code == 0, out
    summary = json.loads(out)
    assert summary["precision"] >= 0.8
    assert summary["recall"] >= 0.8
