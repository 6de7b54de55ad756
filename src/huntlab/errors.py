"""Errors a user can act on: each says what failed, where (file and line, or URL), and what to do."""

from __future__ import annotations

from typing import Any


class HuntlabError(Exception):
    """Base of every expected failure; the CLI prints it without a traceback."""

    exit_code = 1


class DataFormatError(HuntlabError):
    """Input that cannot be read: names the file, the line (1-based) and what to do."""

    def __init__(
        self, path: str, line: int | None, problem: str, hint: str = "", *, skippable: bool = False
    ) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        self.hint = hint
        # A bad line that errors="skip" would set aside: the CLI names its own --errors skip.
        self.skippable = skippable
        where = f"{path}, line {line}" if line is not None else path
        text = f"{where}: {problem}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (it crosses back from a read's worker processes) with its fields.
        return (_data_format_error, (self.path, self.line, self.problem, self.hint, self.skippable))


def _data_format_error(
    path: str, line: int | None, problem: str, hint: str, skippable: bool
) -> DataFormatError:
    return DataFormatError(path, line, problem, hint, skippable=skippable)


def json_problem(exc: ValueError) -> str:
    """What is wrong with one line that is not JSON, by column: the decoder's own message
    counts lines and characters inside that one line ("line 1 column 23 (char 22)"), which
    reads as a second, wrong line number next to the file's."""
    column = getattr(exc, "colno", None)
    message = getattr(exc, "msg", None) or str(exc)
    return f"not JSON at column {column}: {message}" if column else f"not JSON ({message})"


class DatasetNotFound(HuntlabError):
    """A dataset id or name that the catalog does not know."""


class DownloadError(HuntlabError):
    """A download that failed; names the URL and how to import the file instead."""


class ServiceError(HuntlabError):
    """A lab service that did not start, answer or stop; names the log to read."""
