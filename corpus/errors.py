"""The root of the project's one error tree.

It sits in the lowest layer so that every package's errors (corpus, embeddings, matcher) can join it; the doors
(HTTP and CLI) each catch this one class and map it once. ``code`` is a stable machine-readable name and
``details`` helps the caller fix the cause.
"""

from __future__ import annotations

from typing import Any


ECHO_LIMIT = 80  # characters of a caller's value repeated in a message


def clip(value: object, limit: int = ECHO_LIMIT) -> str:
    """A caller's value as a message repeats it: cut to ``limit`` characters and an ellipsis, so a huge input (a
    5,000-character id) is named, not sent back whole."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


class PartnerMatcherError(Exception):
    """Base of every error the project raises on purpose; the message says what was wrong and how to fix it."""

    code = "error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class CorpusError(PartnerMatcherError, ValueError):
    """A corpus file could not be read or one of its records is invalid. ``problems`` lists every issue found."""

    code = "invalid_records"

    def __init__(self, message: str, problems: list[dict] | None = None) -> None:
        super().__init__(message, problems or None)
        self.problems = problems or []


__all__ = ["CorpusError", "ECHO_LIMIT", "PartnerMatcherError", "clip"]
