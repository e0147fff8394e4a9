"""Errors that are the user's to fix (bad files, bad settings), as opposed to bugs.

The CLI prints these as one line and exits with code 2; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

from unids._core import UnidsError


class UserError(UnidsError):
    """A problem with the user's input or settings, explained in one line."""


class InputError(UserError):
    """A problem at a place in an input file: `file: line L, column C: message`."""

    def __init__(
        self,
        file: str,
        message: str,
        *,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        where = [file]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")
