"""fetch(): download from a local HTTP server (127.0.0.1, ephemeral port, in a thread), verify,
unpack atomically; every failure leaves the destination as it was."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from unids.data import fetch as fetch_module
from unids.data.fetch import KNOWN, Archive, ChecksumWarning, fetch
from unids.data.loaders import load
from unids.errors import UserError

ML_FILES = {
    "ml-toy/ratings.dat": b"1::10::5::978300760\n1::20::3::978302109\n1::30::4::978301968\n",
    "ml-toy/users.dat": b"1::F::1::10::48067\n",
    "ml-toy/movies.dat": "10::Misérables, Les (1995)::Drama\n20::Heat (1995)::Action\n"
                         "30::Up (2009)::Comedy\n".encode("latin-1"),
}


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder it serves)."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=root))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def serve(server: tuple[str, Path], name: str, content: bytes) -> tuple[str, str]:
    """Puts a file on the server; returns its URL and SHA-256."""
    base, root = server
    (root / name).write_bytes(content)
    return f"{base}/{name}", hashlib.sha256(content).hexdigest()


def test_fetch_verifies_unpacks_and_loads(server: tuple[str, Path], tmp_path: Path) -> None:
    url, sha = serve(server, "ml-toy.zip", make_zip(ML_FILES))
    dest = tmp_path / "data"
    folder = fetch("ml-toy", dest, url=url, sha256=sha.upper())
    assert folder == dest / "ml-toy"
    assert sorted(p.name for p in folder.iterdir()) == ["movies.dat", "ratings.dat", "users.dat"]
    assert [p.name for p in dest.iterdir()] == ["ml-toy"]  # no temporary files left
    raw = load("ml-1m", folder)
    assert raw.interactions.num_rows == 3
    # A second call finds the folder and downloads nothing.
    (server[1] / "ml-toy.zip").unlink()
    assert fetch("ml-toy", dest, url=url, sha256=sha) == folder


def test_checksum_mismatch_leaves_nothing(server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = serve(server, "ml-toy.zip", make_zip(ML_FILES))
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "other").write_text("kept")
    with pytest.raises(UserError, match=r"checksum mismatch.*SHA-256"):
        fetch("ml-toy", dest, url=url, sha256="0" * 64)
    assert [p.name for p in dest.iterdir()] == ["other"]


def test_known_archive_checks_md5_and_warns_sha256_skipped(
        server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = make_zip(ML_FILES)
    url, _ = serve(server, "ml-toy.zip", content)
    md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
    monkeypatch.setitem(KNOWN, "ml-toy", Archive(url, sha256=None, md5=md5))
    with pytest.warns(ChecksumWarning, match="SHA-256 verification skipped"):
        assert (fetch("ml-toy", tmp_path / "a") / "ratings.dat").is_file()
    monkeypatch.setitem(KNOWN, "ml-toy", Archive(url, sha256=None, md5="f" * 32))
    with pytest.raises(UserError, match="MD5"):
        fetch("ml-toy", tmp_path / "b")
    assert list((tmp_path / "b").iterdir()) == []


def test_no_checksum_at_all_warns(server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = serve(server, "flat.zip", make_zip({"a.txt": b"1", "b.txt": b"2"}))
    with pytest.warns(ChecksumWarning, match="verification skipped"):
        folder = fetch("flat", tmp_path, url=url)
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt", "b.txt"]


def test_http_error_and_bad_archives_leave_nothing(server: tuple[str, Path],
                                                   tmp_path: Path) -> None:
    base, _ = server
    with pytest.raises(UserError, match="HTTP 404"):
        fetch("ml-toy", tmp_path, url=f"{base}/missing.zip", sha256="0" * 64)
    url, sha = serve(server, "bad.zip", b"not a zip at all")
    with pytest.raises(UserError, match="not a valid zip"):
        fetch("bad", tmp_path, url=url, sha256=sha)
    url, sha = serve(server, "evil.zip", make_zip({"../evil.txt": b"x"}))
    with pytest.raises(UserError, match="outside the destination"):
        fetch("evil", tmp_path, url=url, sha256=sha)
    assert list(tmp_path.iterdir()) == [tmp_path / "served"]
    assert not (tmp_path.parent / "evil.txt").exists()


def test_progress_bar(server: tuple[str, Path], tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    url, sha = serve(server, "ml-toy.zip", make_zip(ML_FILES))
    fetch("ml-toy", tmp_path / "d", url=url, sha256=sha, progress=True)
    assert "ml-toy.zip" in capsys.readouterr().err


def test_unknown_dataset_and_known_urls() -> None:
    with pytest.raises(UserError, match="no known download for 'ml-25m'"):
        fetch("ml-25m", ".")
    assert KNOWN["ml-1m"].url == "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
    assert KNOWN["ml-100k"].url.endswith("/ml-100k.zip")
    assert all(a.sha256 is None and a.md5 is not None for a in KNOWN.values())
    assert fetch_module.CHUNK > 0
