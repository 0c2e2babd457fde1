"""The client's error tree: each type is one situation the user can act on.

Every error carries ``user_message`` (what happened) and ``action`` (what to do), written
for a person, free of cookies and tokens. ``str(err)`` is both joined.
"""

from __future__ import annotations

from core.redact import redact


class ImageFXError(Exception):
    """Base of everything the ImageFX client raises."""

    default_message = "ImageFX request failed."
    default_action = "Try again."
    retryable = False

    def __init__(self, message: str | None = None, *, action: str | None = None,
                 status: int | None = None, detail: str | None = None) -> None:
        self.user_message = redact(message or self.default_message)
        self.action = action if action is not None else self.default_action
        self.status = status
        # Server-side text kept for logs; redacted because servers echo headers back.
        self.detail = redact(detail)[:500] if detail else None
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.action:
            return f"{self.user_message} {self.action}"
        return self.user_message


class AuthError(ImageFXError):
    """Not signed in, or the cookie/session can no longer be used: sign in again."""

    default_message = "You are not signed in to ImageFX."
    default_action = "Sign in again with a fresh cookie from labs.google."

    # Which of the known failure forms this was (for tests, logs and the sign-in dialog).
    NOT_SIGNED_IN = "not_signed_in"
    EMPTY_SESSION = "empty_session"
    REFRESH_NEEDED = "refresh_needed"
    REJECTED = "rejected"
    MISSING_SESSION_COOKIE = "missing_session_cookie"
    BAD_COOKIE_FORMAT = "bad_cookie_format"

    def __init__(self, message: str | None = None, *, kind: str = NOT_SIGNED_IN, **kw: object) -> None:
        self.kind = kind
        super().__init__(message, **kw)  # type: ignore[arg-type]


class CookieFormatError(AuthError):
    """The pasted text is not a cookie in any accepted form, or lacks the session cookie."""

    default_message = "That is not a labs.google cookie."
    default_action = ("Paste the whole Cookie header of a signed-in labs.google page, a cookie-editor "
                      "JSON export, or a cookies.txt file.")


class SafetyRefusal(ImageFXError):
    """The prompt was refused by Google's safety filter; retrying the same prompt will not help."""

    default_message = "The prompt was refused by ImageFX's safety filter."
    default_action = "Reword the prompt and try again."


class BadRequest(ImageFXError):
    """The service rejected the request (not a safety refusal)."""

    default_message = "ImageFX rejected the request."
    default_action = "Check the options (model, aspect ratio, number of images) and try again."


class NotFound(BadRequest):
    """ImageFX has nothing under that name (a media id that was deleted, mistyped or is not yours)."""

    default_message = "ImageFX has no such image."
    default_action = "Check the media id (history --json lists the ids of your images)."


class ModelRejected(BadRequest):
    """The service does not offer the model asked for; the message names the ones it does."""

    default_message = "ImageFX does not offer that model."


class RateLimited(ImageFXError):
    """Quota or rate limit reached. ``retry_after`` is seconds, when the server said."""

    default_message = "ImageFX is rate limiting this account."
    retryable = True

    def __init__(self, message: str | None = None, *, retry_after: float | None = None,
                 **kw: object) -> None:
        self.retry_after = retry_after
        if retry_after is not None and "action" not in kw:
            kw["action"] = f"Wait {format_wait(retry_after)} and try again."
        elif "action" not in kw:
            kw["action"] = "Wait a minute and try again."
        super().__init__(message, **kw)  # type: ignore[arg-type]


class ServerError(ImageFXError):
    """The service failed (5xx). Usually transient."""

    default_message = "ImageFX had a server error."
    default_action = "Try again in a moment."
    retryable = True


class NetworkError(ImageFXError):
    """The service could not be reached (no connection, DNS, refused, closed mid-answer)."""

    default_message = "Could not reach ImageFX."
    default_action = "Check your internet connection and try again."
    retryable = True


class RequestTimeout(NetworkError):
    """The service accepted the connection but did not answer in time."""

    default_message = "ImageFX did not answer in time."
    default_action = "Try again; if it keeps happening, ask for fewer images."
    # Not retried automatically: the service may still be working on it, and a repeated
    # generate would only queue more work behind a slow answer (and multiply the wait).
    retryable = False


class ProtocolChanged(ImageFXError):
    """The answer was not in the expected shape: Google may have changed the API."""

    default_message = "ImageFX answered in an unexpected format."
    default_action = "Try again later; if it persists, update ImageFX Studio."


class Cancelled(ImageFXError):
    """The caller cancelled the operation."""

    default_message = "Cancelled."
    default_action = ""


def format_wait(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = round(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
