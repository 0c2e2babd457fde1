"""Everything about ImageFX's wire format, in one module.

Google changes this undocumented API without notice (``docs/imagefx-protocol.md``).
When it does, this file is the one to change: endpoints, headers, request bodies, the
shape of answers, and how an HTTP failure maps to an error the user can act on. The
client (``client.py``) only moves bytes; the stand-in server imports the paths from here.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

from core.imagefx.errors import (
    AuthError,
    BadRequest,
    ImageFXError,
    ModelRejected,
    NotFound,
    ProtocolChanged,
    RateLimited,
    SafetyRefusal,
    ServerError,
)
from core.imagefx.types import (
    Caption,
    GeneratedImage,
    Generation,
    GenerationRequest,
    HistoryEntry,
    HistoryPage,
    SessionInfo,
)

# --- endpoints --------------------------------------------------------------------------

SESSION_PATH = "/fx/api/auth/session"
GENERATE_PATH = "/v1:runImageFx"
FETCH_MEDIA_PATH = "/fx/api/trpc/media.fetchMedia"
USER_HISTORY_PATH = "/fx/api/trpc/media.fetchUserHistory"
CAPTION_PATH = "/fx/api/trpc/backbone.captionImage"

WEB_ORIGIN = "https://labs.google"
WEB_REFERER = "https://labs.google/fx/tools/image-fx"
SESSION_COOKIE_NAMES = ("__Secure-next-auth.session-token", "next-auth.session-token")
TOOL_NAME = "IMAGE_FX"

# --- data: lists Google owns. Keep them data, not branches in code. ----------------------

ASPECT_RATIOS: tuple[str, ...] = (
    "IMAGE_ASPECT_RATIO_SQUARE",
    "IMAGE_ASPECT_RATIO_PORTRAIT",
    "IMAGE_ASPECT_RATIO_LANDSCAPE",
    "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE",
    "IMAGE_ASPECT_RATIO_UNSPECIFIED",
)
# Short names accepted on the command line; MOBILE_LANDSCAPE is the npm CLI's name.
ASPECT_ALIASES: dict[str, str] = {
    "SQUARE": "IMAGE_ASPECT_RATIO_SQUARE",
    "PORTRAIT": "IMAGE_ASPECT_RATIO_PORTRAIT",
    "LANDSCAPE": "IMAGE_ASPECT_RATIO_LANDSCAPE",
    "LANDSCAPE_FOUR_THREE": "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE",
    "MOBILE_LANDSCAPE": "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE",
    "UNSPECIFIED": "IMAGE_ASPECT_RATIO_UNSPECIFIED",
}
ASPECT_LABELS: dict[str, str] = {
    "IMAGE_ASPECT_RATIO_SQUARE": "Square (1:1)",
    "IMAGE_ASPECT_RATIO_PORTRAIT": "Portrait (9:16)",
    "IMAGE_ASPECT_RATIO_LANDSCAPE": "Landscape (16:9)",
    "IMAGE_ASPECT_RATIO_LANDSCAPE_FOUR_THREE": "Landscape (4:3)",
    "IMAGE_ASPECT_RATIO_UNSPECIFIED": "Unspecified",
}
# What the service accepts today, and what older clients and the schema document name.
MODELS: tuple[str, ...] = ("IMAGEN_3_5",)
KNOWN_MODELS: tuple[str, ...] = ("IMAGEN_3", "IMAGEN_3_1", "IMAGEN_3_5")
# The web's "Imagen 4" choice is sent as IMAGEN_3_5.
MODEL_ALIASES: dict[str, str] = {"IMAGEN_4": "IMAGEN_3_5"}
MODEL_LABELS: dict[str, str] = {"IMAGEN_3_5": "Imagen 4 (IMAGEN_3_5)", "IMAGEN_3": "Imagen 3",
                                "IMAGEN_3_1": "Imagen 3.1"}
MIN_COUNT, MAX_COUNT = 1, 8
MAX_SEED = 2**31 - 1  # prompts.seed is INTEGER

# The shape of an answer's values, as the library keeps them (schema.sql: ids VARCHAR(255), model
# and aspect-ratio names VARCHAR(50), seeds INTEGER). An answer beyond these has changed shape.
MAX_ID_CHARS = 255
MAX_NAME_CHARS = 50
SEED_RANGE = (-(2**31), 2**31 - 1)
# The largest answer read (8 images of 1-2 MB of base64 each, with room): a bigger one is cut off.
MAX_ANSWER_BYTES = 96 * 1024 * 1024
CAPTION_IMAGE_TYPES: tuple[str, ...] = ("jpeg", "jpg", "jpe", "png", "gif", "webp", "svg", "bmp",
                                        "tiff", "apng", "avif")

SAFETY_MARKERS = ("safety filter", "safety threshold", "prohibited one or more words",
                  "responsible ai")
REFRESH_NEEDED = "ACCESS_TOKEN_REFRESH_NEEDED"


def normalize_aspect_ratio(value: str) -> str:
    """Accept ``LANDSCAPE``, ``MOBILE_LANDSCAPE`` or the full name; ValueError otherwise."""
    key = value.strip().upper()
    if key in ASPECT_RATIOS:
        return key
    if key in ASPECT_ALIASES:
        return ASPECT_ALIASES[key]
    if "IMAGE_ASPECT_RATIO_" + key in ASPECT_RATIOS:
        return "IMAGE_ASPECT_RATIO_" + key
    raise ValueError(f"unknown aspect ratio {value!r}; use one of {', '.join(ASPECT_ALIASES)}")


def normalize_model(value: str) -> str:
    key = value.strip().upper()
    return MODEL_ALIASES.get(key, key)


def models_text() -> str:
    """The models the service accepts, for messages and --help: ``IMAGEN_3_5 (Imagen 4; alias IMAGEN_4)``."""
    parts = []
    for m in MODELS:
        aliases = [a for a, target in MODEL_ALIASES.items() if target == m]
        label = MODEL_LABELS.get(m, m).split(" (")[0]
        extra = f"; alias {', '.join(aliases)}" if aliases else ""
        parts.append(f"{m} ({label}{extra})")
    return ", ".join(parts)


# --- requests ------------------------------------------------------------------------------

def headers(cookie: str, access_token: str | None = None) -> dict[str, str]:
    h = {
        "Origin": WEB_ORIGIN,
        "Referer": WEB_REFERER,
        "Content-Type": "application/json",
        "Cookie": cookie,
    }
    if access_token:
        h["Authorization"] = f"Bearer {access_token}"
    return h


def session_id(started_ms: int) -> str:
    return f";{started_ms}"


def generate_body(req: GenerationRequest, client_session_id: str) -> dict[str, Any]:
    return {
        "userInput": {
            "candidatesCount": req.count,
            "prompts": [req.prompt],
            "seed": req.seed or 0,
        },
        "clientContext": {"sessionId": client_session_id, "tool": TOOL_NAME},
        "modelInput": {"modelNameType": normalize_model(req.model)},
        "aspectRatio": req.aspect_ratio,
    }


def _trpc_input(payload: dict[str, Any]) -> str:
    return quote(json.dumps(payload, separators=(",", ":")), safe="")


def fetch_media_url(labs_url: str, media_id: str) -> str:
    return f"{labs_url}{FETCH_MEDIA_PATH}?input={_trpc_input({'json': {'mediaKey': media_id}})}"


def user_history_url(labs_url: str, cursor: str | None, limit: int) -> str:
    payload = {"json": {"cursor": cursor or "", "limit": limit, "type": TOOL_NAME}, "meta": {"values": {}}}
    return f"{labs_url}{USER_HISTORY_PATH}?input={_trpc_input(payload)}"


def caption_body(image: bytes, mime_type: str, count: int, client_session_id: str) -> dict[str, Any]:
    data_url = f"data:{mime_type};base64,{base64.b64encode(image).decode('ascii')}"
    return {
        "json": {
            "clientContext": {"sessionId": client_session_id, "workflowId": ""},
            "captionInput": {
                "candidatesCount": count,
                "mediaInput": {"mediaCategory": "MEDIA_CATEGORY_SUBJECT", "rawBytes": data_url},
            },
        }
    }


# --- answers -------------------------------------------------------------------------------

def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            raise ProtocolChanged(detail=f"missing {'.'.join(path)}")
        obj = obj[key]
    return obj


def _parse_time(value: str) -> datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def loads(text: str | bytes) -> Any:
    """JSON of an answer; ProtocolChanged for what is not (including JSON nested so deep that
    parsing it would exhaust the stack: a RecursionError is not a crash to let through)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ProtocolChanged(detail="answer nested too deeply") from None
    except ValueError:
        head = text.lstrip()[:1] if isinstance(text, str) else text.lstrip()[:1].decode("latin-1")
        kind = "a web page" if head == "<" else "incomplete or invalid JSON"
        raise ProtocolChanged(detail=f"answer was {kind}") from None


def parse_session(data: Any) -> SessionInfo:
    """The session answer, or the AuthError that each known failure form means."""
    if not isinstance(data, dict):
        raise ProtocolChanged(detail="session answer is not an object")
    if data.get("error") == REFRESH_NEEDED:
        raise AuthError("Your labs.google session can no longer create access tokens.",
                        kind=AuthError.REFRESH_NEEDED,
                        action="Open labs.google in your browser, sign in again, and paste the new cookie.")
    if not data or "access_token" not in data and "user" not in data:
        raise AuthError("The cookie is not a signed-in labs.google session.", kind=AuthError.EMPTY_SESSION,
                        action="Copy the whole Cookie header from a labs.google page while signed in "
                               "(it includes __Secure-next-auth.session-token).")
    try:
        user = data["user"]
        token = data["access_token"]
        expires = _parse_time(data["expires"])
        if not isinstance(token, str) or not token:
            raise TypeError("access_token")
        return SessionInfo(
            name=str(user.get("name") or user.get("email") or ""),
            email=str(user["email"]),
            image_url=user.get("image") or None,
            expires=expires,
            access_token=token,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ProtocolChanged(detail=f"session answer: {type(exc).__name__} {exc}") from None


def _image_from(obj: Any, fallback_prompt: str | None = None) -> GeneratedImage:
    if not isinstance(obj, dict):
        raise ProtocolChanged(detail="image is not an object")
    encoded = obj.get("encodedImage")
    media_id = obj.get("mediaGenerationId") or obj.get("name")
    if not isinstance(encoded, str) or not encoded or not isinstance(media_id, str) or not media_id:
        raise ProtocolChanged(detail="image without encodedImage or mediaGenerationId")
    seed = obj.get("seed")
    try:
        seed = int(seed) if seed is not None else None
    except (TypeError, ValueError):
        seed = None
    return GeneratedImage(
        media_id=media_id,
        encoded_image=encoded,
        seed=seed,
        prompt=obj.get("prompt") or fallback_prompt,
        model=obj.get("modelNameType"),
        aspect_ratio=obj.get("aspectRatio"),
        workflow_id=obj.get("workflowId"),
        fingerprint_log_record_id=obj.get("fingerprintLogRecordId"),
        is_mask_edited=bool(obj.get("isMaskEditedImage", False)),
    )


def parse_generate(data: Any, req: GenerationRequest) -> Generation:
    panels = data.get("imagePanels") if isinstance(data, dict) else None
    if not isinstance(panels, list) or not panels:
        raise ProtocolChanged(detail="generate answer without imagePanels")
    images: list[GeneratedImage] = []
    for panel in panels:
        if not isinstance(panel, dict) or not isinstance(panel.get("generatedImages"), list):
            raise ProtocolChanged(detail="imagePanel without generatedImages")
        for img in panel["generatedImages"]:
            images.append(_image_from(img, panel.get("prompt")))
    if not images:
        raise ProtocolChanged("ImageFX returned no images for this prompt.", detail="empty generatedImages")
    return Generation(prompt=req.prompt, images=tuple(images), workflow_id=data.get("workflowId"),
                      model=normalize_model(req.model), aspect_ratio=req.aspect_ratio)


def answer_problems(images: Iterable[GeneratedImage], workflow_id: object = None) -> list[str]:
    """What in an answer's images cannot be what ImageFX sends (or what the library can keep): a
    10,000-character media id, a NUL, a seed beyond 32 bits, a 300-character model name, text that
    is not Unicode. Empty when the answer has the expected shape."""
    problems: list[str] = []

    def text(what: str, value: object, limit: int | None) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            problems.append(f"{what} is not text")
            return
        if limit is not None and len(value) > limit:
            problems.append(f"{what} is {len(value):,} characters long (at most {limit} expected)")
        if "\x00" in value:
            problems.append(f"{what} contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(f"{what} is not valid Unicode text")

    for img in images:
        text("the media id", img.media_id, MAX_ID_CHARS)
        text("the model name", img.model, MAX_NAME_CHARS)
        text("the aspect ratio", img.aspect_ratio, MAX_NAME_CHARS)
        text("the workflow id", img.workflow_id, MAX_ID_CHARS)
        text("the fingerprint id", img.fingerprint_log_record_id, MAX_ID_CHARS)
        text("the prompt", img.prompt, None)
        if img.seed is not None and not SEED_RANGE[0] <= img.seed <= SEED_RANGE[1]:
            problems.append(f"the seed {img.seed} is beyond 32 bits")
    text("the workflow id", workflow_id, MAX_ID_CHARS)
    return list(dict.fromkeys(problems))


def parse_fetch_media(data: Any) -> GeneratedImage:
    image = _dig(data, "result", "data", "json", "result", "image")
    return _image_from(image)


def parse_user_history(data: Any) -> HistoryPage:
    result = _dig(data, "result", "data", "json", "result")
    workflows = result.get("userWorkflows") if isinstance(result, dict) else None
    if not isinstance(workflows, list):
        raise ProtocolChanged(detail="history answer without userWorkflows")
    entries = []
    for wf in workflows:
        if isinstance(wf, dict) and isinstance(wf.get("name"), str):
            entries.append(HistoryEntry(media_id=wf["name"], create_time=wf.get("createTime")))
    token = result.get("nextPageToken") or None
    return HistoryPage(entries=tuple(entries), next_cursor=token if isinstance(token, str) else None)


def parse_caption(data: Any) -> list[Caption]:
    candidates = _dig(data, "result", "data", "json", "result", "candidates")
    if not isinstance(candidates, list):
        raise ProtocolChanged(detail="caption answer without candidates")
    out = [Caption(text=str(c["output"]), media_id=c.get("mediaGenerationId"))
           for c in candidates if isinstance(c, dict) and isinstance(c.get("output"), str)]
    if not out:
        raise ProtocolChanged("ImageFX returned no caption for this image.", detail="no candidates")
    return out


def _error_message(data: Any) -> str:
    """Google API errors: {"error": {...}}; tRPC errors: {"error": {"json": {...}}}."""
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            if isinstance(err.get("json"), dict):
                err = err["json"]
            msg = err.get("message")
            if isinstance(msg, str):
                return msg
        elif isinstance(err, str):
            return err
    return ""


def _error_status(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        if isinstance(err.get("json"), dict):
            inner = err["json"].get("data")
            if isinstance(inner, dict) and isinstance(inner.get("code"), str):
                return inner["code"]
        status = err.get("status")
        if isinstance(status, str):
            return status
    return ""


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def is_safety_message(message: str) -> bool:
    low = message.lower()
    return any(marker in low for marker in SAFETY_MARKERS)


def rejects_model(message: str) -> bool:
    """A bad request whose message is about the model (Google names the field ``model_input.model_name_type``)."""
    low = message.lower().replace(" ", "")
    return "model_name_type" in low or "modelnametype" in low


def model_rejected(model: str, err: BadRequest) -> ModelRejected:
    return ModelRejected(f"ImageFX does not offer the model {model}.",
                         action=f"Use one of: {models_text()}.", status=err.status, detail=err.detail)


def error_for(status: int, body: str, retry_after: str | None, *, on_session: bool = False) -> ImageFXError:
    """Map a failed HTTP answer to the error the user can act on."""
    try:
        data = json.loads(body) if body else None
    except (ValueError, RecursionError):
        data = None
    message = _error_message(data)
    gstatus = _error_status(data)
    if status in (401, 403):
        if on_session:
            return AuthError("labs.google rejected the cookie (it has expired or was signed out).",
                             kind=AuthError.REJECTED, status=status, detail=message)
        return AuthError("ImageFX no longer accepts your sign-in (the cookie or token has expired).",
                         kind=AuthError.REJECTED, status=status, detail=message)
    if status == 404 or gstatus == "NOT_FOUND":
        return NotFound(status=status, detail=message)
    if status == 429 or gstatus == "RESOURCE_EXHAUSTED":
        return RateLimited(retry_after=retry_after_seconds(retry_after), status=status, detail=message)
    if status == 400 or gstatus in ("INVALID_ARGUMENT", "BAD_REQUEST", "FAILED_PRECONDITION"):
        if message and is_safety_message(message):
            return SafetyRefusal(f"Refused by the safety filter: {message}", status=status, detail=message)
        return BadRequest(f"ImageFX rejected the request: {message}" if message else None,
                          status=status, detail=message)
    if status >= 500:
        return ServerError(f"ImageFX had a server error (HTTP {status}).", status=status, detail=message)
    if 400 <= status < 500:
        return BadRequest(f"ImageFX rejected the request (HTTP {status}): {message}".rstrip(": "),
                          status=status, detail=message)
    return ProtocolChanged(detail=f"unexpected HTTP {status}")
