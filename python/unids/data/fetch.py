"""Downloading a dataset's official archive: checksum first, then an atomic unpack.

The archive goes to a temporary file beside the destination, is checked, and is unpacked into a
temporary folder that is renamed to `<dest>/<name>` only when everything succeeded; any failure
removes both, so `<dest>/<name>` either is complete or does not exist.

Checksums: GroupLens publishes MD5 sums (`ml-1m.zip.md5`, `ml-100k.zip.md5`); the MD5 values
below agree across several independent repositories. We could not download the archives here, so
their SHA-256 is unknown and stored as None: without a `sha256=` argument the download is checked
against the MD5 only (it catches corrupt or truncated downloads, not tampering) and a warning
says that SHA-256 verification was skipped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm  # type: ignore[import-untyped]

from unids.errors import UserError


@dataclass(frozen=True)
class Archive:
    url: str
    sha256: str | None
    md5: str | None = None


KNOWN: dict[str, Archive] = {
    "ml-1m": Archive("https://files.grouplens.org/datasets/movielens/ml-1m.zip", sha256=None,
                     md5="c4d9eecfca2ab87c1945afe126590906"),
    "ml-100k": Archive("https://files.grouplens.org/datasets/movielens/ml-100k.zip", sha256=None,
                       md5="0e33842e24a9c977be4e0107933c0723"),
}
CHUNK = 1 << 16


class ChecksumWarning(UserWarning):
    """A download could not be checked with SHA-256."""


def fetch(name: str, dest: str | os.PathLike[str], *, url: str | None = None,
          sha256: str | None = None, progress: bool | None = None,
          timeout: float = 60.0) -> Path:
    """Downloads and unpacks dataset `name` into `<dest>/<name>` and returns that folder.

    `url` / `sha256` override the known ones (and make any name fetchable). An existing
    `<dest>/<name>` is returned as is. A zip with a single top folder (as GroupLens ships them)
    has that folder stripped. `progress`: show a tqdm bar (default: only on a terminal).
    """
    known = KNOWN.get(name)
    if url is None:
        if known is None:
            raise UserError(f"no known download for {name!r}; known: {', '.join(KNOWN)} "
                            "(or pass url=)")
        url = known.url
    md5 = known.md5 if known is not None and url == known.url else None
    sha256 = sha256 or (known.sha256 if known is not None and url == known.url else None)
    dest = Path(dest)
    target = dest / name
    if target.exists():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    handle, archive_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".download", dir=dest)
    os.close(handle)
    archive = Path(archive_name)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".unpack", dir=dest))
    try:
        digests = _download(url, archive, progress, timeout)
        _verify(name, url, digests, sha256, md5)
        _unpack(archive, staging)
        root = _single_root(staging)
        try:
            os.replace(root, target)
        except OSError:
            if not target.exists():  # else another process finished first: use its copy
                raise
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(url: str, archive: Path, progress: bool | None,
              timeout: float) -> dict[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, \
                open(archive, "wb") as out:
            total = response.headers.get("Content-Length")
            with tqdm(total=int(total) if total else None, unit="B", unit_scale=True,
                      desc=PurePosixPath(url).name, disable=None if progress is None
                      else not progress) as bar:
                while block := response.read(CHUNK):
                    out.write(block)
                    sha.update(block)
                    md5.update(block)
                    received += len(block)
                    bar.update(len(block))
        if total and received != int(total):
            raise UserError(f"download of {url} stopped after {received} of {total} bytes")
    except urllib.error.HTTPError as error:
        raise UserError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(f"cannot download {url}: {reason}") from None
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def _verify(name: str, url: str, digests: dict[str, str], sha256: str | None,
            md5: str | None) -> None:
    if sha256 is not None:
        if digests["sha256"] != sha256.lower():
            raise UserError(f"checksum mismatch for {url}: SHA-256 is {digests['sha256']}, "
                            f"expected {sha256.lower()}; nothing was kept")
        return
    if md5 is not None:
        if digests["md5"] != md5:
            raise UserError(f"checksum mismatch for {url}: MD5 is {digests['md5']}, expected "
                            f"{md5} (GroupLens' published sum); nothing was kept")
        warnings.warn(f"{name}: no known SHA-256; SHA-256 verification skipped, checked the "
                      f"published MD5 only (SHA-256 of this download: {digests['sha256']})",
                      ChecksumWarning, stacklevel=3)
        return
    warnings.warn(f"{name}: no checksum known for {url}; verification skipped (SHA-256 of this "
                  f"download: {digests['sha256']}; pass sha256= to check it)", ChecksumWarning,
                  stacklevel=3)


def _unpack(archive: Path, staging: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.infolist():
                parts = PurePosixPath(member.filename).parts
                if member.filename.startswith("/") or ".." in parts:
                    raise UserError(f"refusing to unpack {member.filename!r}: it points outside "
                                    "the destination")
            zipped.extractall(staging)
    except zipfile.BadZipFile as error:
        raise UserError(f"the download is not a valid zip archive ({error})") from None


def _single_root(staging: Path) -> Path:
    """The archive's only top-level folder, or the staging folder itself."""
    entries = [e for e in staging.iterdir() if e.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return staging
