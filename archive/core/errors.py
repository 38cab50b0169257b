"""The one base for "the person asked for something the archive refuses".

Every layer raises a subclass with a message written for the person who asked; each edge
translates it once: the CLI prints ``Error: <message>`` and exits 2, the web app answers
``status`` with a friendly page (or JSON under ``/api/``). Anything else that escapes is a
bug or the machine's trouble, and is reported as such, never with the exception's text.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class UserError(Exception):
    """Input or a request the archive refuses; ``str(exc)`` is safe to show the person who asked.

    ``status`` is the HTTP status the web app answers with (400 unless a subclass says otherwise);
    ``field`` names the form field the message is about, where one is (a form marks it).
    """

    status: int = 400

    def __init__(self, message: str, *, status: int | None = None, field: str | None = None):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.field = field

    def sentence(self) -> str:
        """The message as a sentence for a page: a capital first, a full stop last. A message about a
        file starts with the file's name ("other_chat.txt: not a Zoom chat export"); the name stays as
        it is."""
        message = str(self)
        name, colon, _ = message.partition(": ")
        starts_with_name = colon and " " not in name and ("." in name or "/" in name)
        first = message[:1] if starts_with_name else message[:1].upper()
        return first + message[1:] + ("" if message.endswith((".", "?", "!")) else ".")


class NotFound(UserError):
    """What was asked for does not exist (or the asker may not know it does)."""

    status = 404


class CompanionError(UserError):
    """A file that comes with a recording (meeting transcript, chat, slides) that cannot be used;
    the message names the file and says why."""


class Conflict(UserError):
    """The request clashes with the archive's state now (a job already finished, an edit meanwhile)."""

    status = 409


class Busy(UserError):
    """Another process held the archive's write lock past the busy timeout: nothing was changed, and
    the same request a moment later will do (503: the web app adds Retry-After)."""

    status = 503


def present(value: T | None, what: str = "row") -> T:
    """``value``, which the caller knows exists (a row it has just written or holds a reference to).

    A ``None`` here is the archive's own bug, never the person's input, so it is not a ``UserError``.
    """
    if value is None:
        raise LookupError(f"expected a {what}, found none")
    return value
