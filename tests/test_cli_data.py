"""`unids data …` end to end as a user runs it: fetch → prepare → info → stats → export."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from test_fetch import ML_FILES, make_zip, serve, server  # noqa: F401  (server is a fixture)
from unids.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_fetch_prepare_info_stats_export(server: tuple[str, Path], tmp_path: Path) -> None:  # noqa: F811
    url, sha = serve(server, "ml-toy.zip", make_zip(ML_FILES))
    code, out, err = run("data", "fetch", "ml-toy", "-d", str(tmp_path / "raw"), "--url", url,
                         "--sha256", sha)
    assert code == 0, err
    folder = tmp_path / "raw" / "ml-toy"
    assert (folder / "ratings.dat").is_file()

    prepared = tmp_path / "prepared"
    code, out, err = run("data", "prepare", "ml-1m", "--path", str(folder), "-o", str(prepared),
                         "--json")
    assert code == 0, err
    counts = json.loads(out)
    code, out, _ = run("data", "info", str(prepared), "--json")
    assert code == 0
    assert json.loads(out)["counts"]["interactions"] == counts["interactions"]

    report = tmp_path / "report"
    code, out, err = run("data", "stats", str(prepared), "-o", str(report), "--no-plots",
                         "--json")
    assert code == 0, err
    assert (report / "report.json").is_file()

    code, _, err = run("data", "export", str(prepared), "--format", "hstu", "-o",
                       str(tmp_path / "sasrec_format.csv"))
    assert code == 0, err
    header = (tmp_path / "sasrec_format.csv").read_text().splitlines()[0]
    assert header == "index,user_id,sequence_item_ids,sequence_ratings,sequence_timestamps"


def test_bad_checksum_is_a_user_error(server: tuple[str, Path], tmp_path: Path) -> None:  # noqa: F811
    url, _ = serve(server, "ml-toy.zip", make_zip(ML_FILES))
    dest = tmp_path / "dest"
    code, _, err = run("data", "fetch", "ml-toy", "-d", str(dest), "--url", url,
                       "--sha256", "0" * 64)
    assert code == 2
    assert err.startswith("error:") and "Traceback" not in err
    assert list(dest.iterdir()) == []


def test_loader_options_and_bad_options(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text("u,i,t,r\n" + "".join(f"1,{k},{k},{k % 5 + 1}\n" for k in range(6)))
    code, out, err = run("data", "prepare", "csv", "--path", str(log), "-o", str(tmp_path / "d"),
                         "--user-col", "u", "--item-col", "i", "--time-col", "t",
                         "--option", "behaviors=r", "--option", "label=r>=4", "--json")
    assert code == 0, err
    _, out, _ = run("data", "info", str(tmp_path / "d"), "--json")
    assert json.loads(out)["behaviors"] == ["r"]
    code, _, err = run("data", "prepare", "csv", "--path", str(log), "-o", str(tmp_path / "e"),
                       "--option", "nonsense=1")
    assert code == 2 and "options are" in err
