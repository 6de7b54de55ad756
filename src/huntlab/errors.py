"""Errors a user can act on: each says what failed, where (file and line, or URL), and what to do."""

from __future__ import annotations


class HuntlabError(Exception):
    """Base of every expected failure; the CLI prints it without a traceback."""

    exit_code = 1


class DataFormatError(HuntlabError):
    """Input that cannot be read: names the file, the line (1-based) and what to do."""

    def __init__(self, path: str, line: int | None, problem: str, hint: str = "") -> None:
        self.path = path
        self.line = line
        self.problem = problem
        self.hint = hint
        where = f"{path}, line {line}" if line is not None else path
        text = f"{where}: {problem}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class DatasetNotFound(HuntlabError):
    """A dataset id or name that the catalog does not know."""


class DownloadError(HuntlabError):
    """A download that failed; names the URL and how to import the file instead."""


class ServiceError(HuntlabError):
    """A lab service that did not start, answer or stop; names the log to read."""
