"""How an error from the core is shown: its sentence, and the one button that helps.

The core's errors already carry ``user_message`` and ``action`` (what happened, what to
do). The GUI only decides which button goes next to that sentence in the message bar:
"Sign in again" for an expired cookie, "Retry" for things that pass, "Database
settings" for a database problem. Nothing here is modal.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.imagefx.errors import (
    AuthError,
    BadRequest,
    Cancelled,
    ImageFXError,
    NetworkError,
    ProtocolChanged,
    RateLimited,
    SafetyRefusal,
    ServerError,
)
from core.service import StorageFailed, ValidationError, describe
from core.store import DatabaseError, DatabaseUnavailable

# Button ids the main window knows how to carry out.
SIGN_IN = "sign_in"
RETRY = "retry"
DATABASE_SETTINGS = "database_settings"
EDIT_PROMPT = "edit_prompt"

_LABELS = {SIGN_IN: "Sign in again", RETRY: "Retry", DATABASE_SETTINGS: "Database settings",
           EDIT_PROMPT: "Edit prompt"}


@dataclass(frozen=True)
class ErrorView:
    text: str  # what happened and what to do, one or two sentences
    kind: str = "error"  # error | warning
    action: str | None = None  # one of the button ids above
    label: str | None = None  # the button's text when the default does not fit

    @property
    def action_label(self) -> str | None:
        return self.label or (_LABELS.get(self.action) if self.action else None)


def view_for(exc: BaseException) -> ErrorView:
    """The message bar content for any exception a service call raised."""
    text = describe(exc)
    if isinstance(exc, Cancelled):
        return ErrorView("Cancelled.", kind="warning")
    if isinstance(exc, AuthError):
        first_time = exc.kind == AuthError.NOT_SIGNED_IN
        return ErrorView(text, action=SIGN_IN, label="Sign in…" if first_time else None)
    if isinstance(exc, RateLimited):
        return ErrorView(text, kind="warning", action=RETRY)
    if isinstance(exc, SafetyRefusal):
        return ErrorView(text, kind="warning", action=EDIT_PROMPT)
    if isinstance(exc, BadRequest):
        return ErrorView(text, kind="warning", action=EDIT_PROMPT)
    if isinstance(exc, (NetworkError, ServerError, ProtocolChanged)):
        return ErrorView(text, action=RETRY)
    if isinstance(exc, DatabaseUnavailable):
        return ErrorView(text, action=RETRY)
    if isinstance(exc, DatabaseError):
        return ErrorView(text, action=DATABASE_SETTINGS)
    if isinstance(exc, StorageFailed):
        return ErrorView(text, action=DATABASE_SETTINGS)
    if isinstance(exc, ValidationError):
        return ErrorView(text, kind="warning")
    if isinstance(exc, ImageFXError):
        return ErrorView(text, action=RETRY)
    return ErrorView(text)
