"""A content-hashed cache of pipeline steps, so that a rerun skips what is already done.

    cache = StepCache("runs/ml-1m-hstu", force={"train"})
    step = cache.run("train", config={"backbone": "hstu", ...}, inputs={"data": data.key},
                     produce=lambda out: fit(..., out) and {"record": "record.json"})
    step.directory / "record.json"          # runs/ml-1m-hstu/train/<key12>/record.json

A step's key is the SHA-256 of its name, its config, the keys of its inputs (earlier steps,
or checksums of input files) and the unids version, so any change upstream gives new keys
downstream and never reuses a stale artefact. A step writes into a fresh temporary directory
beside its final place; `done.json` (the marker: key, config, inputs, seconds, result) is
written last and the directory is renamed into place, so a crash leaves no half step: the
final directory either holds a finished step or does not exist. `force` names steps to redo
even when done, once per session (their key stays the same; the old directory is replaced only
once the new one is complete).

Several processes may share a work directory (experiment shards): two that compute the same
step both write temporaries, the first rename wins and the second discards its copy. A
resumable step (training, regeneration) keeps one `.partial-<key12>` directory to continue
from, so only one process works in it at a time: a second one waits on its lock file
(`.lock-<key12>`, an advisory `flock`, released by the kernel if the holder dies) and then
takes the finished step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unids import __version__
from unids.io.atomic import strict_json

DONE = "done.json"
KEY_LENGTH = 12  # hex digits of the key in directory names
_TEMPORARY = ".tmp-"
_PARTIAL = ".partial-"
_LOCK = ".lock-"

try:
    import fcntl
except ImportError:  # Windows: no flock; there, two processes must not run one resumable step
    fcntl = None  # type: ignore[assignment]


def content_key(payload: Any) -> str:
    """SHA-256 (hex) of a JSON-able payload, keys sorted (the same payload → the same key)."""
    text = json.dumps(strict_json(payload), sort_keys=True, separators=(",", ":"),
                      allow_nan=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_checksum(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, or of a directory's files (relative names and bytes, in
    sorted order; hidden files skipped)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts))
    for file in files:
        if file != path:
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Step:
    """A finished step: where its files are and what its done.json says."""

    name: str
    key: str
    directory: Path
    done: dict[str, Any]
    cached: bool  # True: found done, not executed now

    @property
    def result(self) -> dict[str, Any]:
        return dict(self.done.get("result") or {})

    @property
    def seconds(self) -> float:
        return float(self.done.get("seconds", 0.0))


class StepCache:
    """Runs steps under `workdir/<step>/<key12>/` (module docstring). `executed` and
    `skipped` list the (step, key) pairs of this session, in order; `log` has one entry per
    distinct step with whether it was cached and its seconds."""

    def __init__(self, workdir: str | os.PathLike[str], force: Iterable[str] = (),
                 version: str = __version__) -> None:
        self.workdir = Path(workdir)
        self.force = frozenset(force)
        self.version = version
        self.executed: list[tuple[str, str]] = []
        self.skipped: list[tuple[str, str]] = []
        self._redone: set[str] = set()  # forced keys already redone: once per session
        #: (step, key) → {step, key, cached, seconds}: every step this session asked for
        self.log: dict[tuple[str, str], dict[str, Any]] = {}
        #: values worth computing once per session (e.g. a dataset's checksum)
        self.memo: dict[str, Any] = {}

    def key(self, step: str, config: Mapping[str, Any], inputs: Mapping[str, str]) -> str:
        return content_key({"step": step, "config": config, "inputs": inputs,
                            "version": self.version})

    def directory(self, step: str, key: str) -> Path:
        return self.workdir / step / key[:KEY_LENGTH]

    def lookup(self, step: str, key: str) -> Step | None:
        """The finished step with this key, or None."""
        directory = self.directory(step, key)
        try:
            done = json.loads((directory / DONE).read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if done.get("key") != key:
            return None  # a 12-digit prefix collision: treat as not done
        return Step(step, key, directory, done, cached=True)

    def run(self, step: str, config: Mapping[str, Any], inputs: Mapping[str, str],
            produce: Callable[[Path], Mapping[str, Any] | None], *,
            resumable: bool = False) -> Step:
        """The step's artefact: the finished one when there is one (and `step` is not
        forced), else `produce(temporary_directory)` run now; its return value is stored as
        done.json's `result` (JSON-able).

        resumable: the temporary directory is `.partial-<key12>` and survives a failure, so
        that `produce` can continue from what it left there (a training run's checkpoint);
        it is still renamed into place only when finished. Two processes that run it at once
        take turns (a lock file beside it): the second finds the step done and takes it."""
        key = self.key(step, config, inputs)
        forced = step in self.force and key not in self._redone
        if not forced and (found := self.lookup(step, key)) is not None:
            return self._cached(step, key, found)
        final = self.directory(step, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        if not resumable:
            return self._execute(step, key, config, inputs, produce, final, forced, False)
        with _exclusive(final.parent / f"{_LOCK}{final.name}"):
            # Another process may have finished the step while this one waited for the lock.
            if not forced and (found := self.lookup(step, key)) is not None:
                return self._cached(step, key, found)
            return self._execute(step, key, config, inputs, produce, final, forced, True)

    def _cached(self, step: str, key: str, found: Step) -> Step:
        self.skipped.append((step, key))
        self.log.setdefault((step, key), {"step": step, "key": key, "cached": True,
                                          "seconds": found.seconds})
        return found

    def _execute(self, step: str, key: str, config: Mapping[str, Any],
                 inputs: Mapping[str, str], produce: Callable[[Path], Mapping[str, Any] | None],
                 final: Path, forced: bool, resumable: bool) -> Step:
        _remove_stale_temporaries(final)
        if resumable:
            temporary = final.parent / f"{_PARTIAL}{final.name}"
            if forced:
                shutil.rmtree(temporary, ignore_errors=True)
            temporary.mkdir(exist_ok=True)
        else:
            temporary = final.parent / (f"{_TEMPORARY}{final.name}-{os.getpid()}-"
                                        f"{uuid.uuid4().hex[:8]}")
            temporary.mkdir()
        started = time.perf_counter()
        finished = False
        try:
            result = produce(temporary)
            done = {"step": step, "key": key, "config": dict(config), "inputs": dict(inputs),
                    "version": self.version, "seconds": round(time.perf_counter() - started, 3),
                    "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "result": dict(result or {})}
            (temporary / DONE).write_text(json.dumps(strict_json(done), indent=2,
                                                     allow_nan=False))
            _move_into_place(temporary, final, forced=forced)
            finished = True
        finally:
            if (finished or not resumable) and temporary.exists():
                shutil.rmtree(temporary, ignore_errors=True)
        self.executed.append((step, key))
        self._redone.add(key)
        self.log[(step, key)] = {"step": step, "key": key, "cached": False,
                                 "seconds": round(time.perf_counter() - started, 3)}
        written = self.lookup(step, key)
        assert written is not None, f"{final} has no {DONE} after the step"
        return Step(step, key, final, written.done, cached=False)

    def count(self, step: str) -> int:
        """How many times `step` was executed in this session."""
        return sum(name == step for name, _ in self.executed)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Holds an exclusive advisory lock on `path` (created if missing; never removed, since
    unlinking a lock file others wait on would let a third process take a second lock)."""
    if fcntl is None:
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def try_exclusive(path: Path) -> Iterator[bool]:
    """`_exclusive` without the wait: yields False, holding nothing, when another process
    holds the lock. Without flock (Windows) it yields True: nothing is shared then."""
    if fcntl is None:
        yield True
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _move_into_place(temporary: Path, final: Path, *, forced: bool) -> None:
    """Renames `temporary` to `final`. A finished `final` is replaced on a forced redo (moved
    aside first, removed after); otherwise it was finished meanwhile by another process, so
    it stays and ours is dropped. An unfinished `final` (no done.json) is replaced."""
    if final.exists():
        if (final / DONE).is_file() and not forced:
            return
        aside = final.parent / f"{_TEMPORARY}old-{final.name}-{uuid.uuid4().hex[:8]}"
        final.rename(aside)
        shutil.rmtree(aside, ignore_errors=True)
    try:
        temporary.rename(final)
    except OSError:
        if not (final / DONE).is_file():
            raise  # not a lost race with another process: a real failure


def _remove_stale_temporaries(final: Path) -> None:
    """Temporaries of this step left by processes that no longer run (a crash)."""
    prefix = f"{_TEMPORARY}{final.name}-"
    for path in final.parent.glob(f"{prefix}*"):
        pid_text = path.name[len(prefix):].split("-")[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process's earlier, failed attempt
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
