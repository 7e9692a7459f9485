"""HTTP plumbing shared by the APIs: bounded JSON bodies, errors, access, URLs, the Site."""

from __future__ import annotations

import hmac
import json
from typing import Any, Dict, List, Optional
from urllib.parse import quote, urlsplit

from twisted.web.server import Request, Site

from rpsa.daemon.logs import access_log_formatter

MAX_BODY_BYTES = 16 * 1024
HTTP_IDLE_TIMEOUT = 60  # seconds an idle keep-alive HTTP connection is kept (Twisted's default: 12 hours)
MAX_ID_LENGTH = 64


class APIError(Exception):
    """An HTTP error answered as ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def json_response(request, body: Any, status: int = 200) -> bytes:
    """Set the status and JSON content type, and return the encoded body."""
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json")
    request.setHeader(b"Cache-Control", b"no-store")
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


def error_response(request, error: APIError) -> bytes:
    """The JSON answer to an APIError."""
    if error.status == 401:
        request.setHeader(b"WWW-Authenticate", b'Bearer realm="rpsa"')
    return json_response(request, {"error": {"code": error.code, "message": error.message}}, error.status)


class BoundedRequest(Request):
    """A request that stops storing its body past MAX_BODY_BYTES (it is answered 413)."""

    body_too_large = False

    def gotLength(self, length):
        if length is not None and length > MAX_BODY_BYTES:
            self.body_too_large = True
            length = 0
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self.body_too_large:
            return
        if self.content.tell() + len(data) > MAX_BODY_BYTES:
            self.body_too_large = True
            self.content.seek(0)
            self.content.truncate()
            return
        super().handleContentChunk(data)


def read_json_object(request) -> Dict[str, Any]:
    """The request's body as a JSON object, or raise APIError (413, 415, 400)."""
    if getattr(request, "body_too_large", False):
        raise APIError(413, "body_too_large", f"the request body is over {MAX_BODY_BYTES} bytes")
    content_type = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
    if content_type != b"application/json" and not content_type.endswith(b"+json"):
        raise APIError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
    request.content.seek(0)
    raw = request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise APIError(413, "body_too_large", f"the request body is over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise APIError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise APIError(400, "invalid_json", "the request body must be a JSON object")
    return body


def id_field(body: Dict[str, Any], key: str, required: bool = True) -> Optional[str]:
    """A non-empty string of at most 64 characters, or raise APIError 400."""
    if key not in body or body[key] is None:
        if required:
            raise APIError(400, "bad_field", f"{key!r} is required")
        return None
    value = body[key]
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise APIError(400, "bad_field", f"{key!r} must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    return value


def rounds_field(body: Dict[str, Any]) -> int:
    """``rounds``: odd, 1..9, default 3."""
    value = body.get("rounds", 3)
    if value is None:
        return 3
    if type(value) is not int or value not in (1, 3, 5, 7, 9):
        raise APIError(400, "bad_field", "'rounds' must be an odd integer from 1 to 9")
    return value


class AccessPolicy:
    """The API key check: with a key, ``Authorization: Bearer <key>`` is required."""

    def __init__(self, api_key: Optional[str]):
        self._key = api_key.encode("utf-8") if api_key else None

    @property
    def open(self) -> bool:
        """No key is configured: the API is open."""
        return self._key is None

    def allowed(self, request) -> bool:
        """Whether the request carries the key (always, without a key)."""
        if self._key is None:
            return True
        header = request.getHeader(b"authorization") or b""
        scheme, _, credentials = header.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        return hmac.compare_digest(credentials.strip(), self._key)


class URLBuilder:
    """Builds the ws:// and wss:// URLs handed out, from ``--public-url`` or the request."""

    def __init__(self, public_url: Optional[str] = None):
        self._base = None
        if public_url:
            parts = urlsplit(public_url)
            scheme = {"http": "ws", "https": "wss"}[parts.scheme]
            self._base = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}"

    def websocket_origins(self) -> List[str]:
        """The WebSocket origin of ``--public-url`` (pages may connect to it), if one is set."""
        if self._base is None:
            return []
        parts = urlsplit(self._base)
        return [f"{parts.scheme}://{parts.netloc}"]

    def base(self, request, port: Optional[int] = None) -> str:
        """``ws[s]://host[:port][/prefix]`` for this request; with ``port``, ``ws://host:port`` (a match child)."""
        if self._base is not None:
            base = self._base
        else:
            host = (request.getHeader(b"host") or b"localhost").decode("latin-1")
            base = f"{'wss' if request.isSecure() else 'ws'}://{host}"
        if port is None:
            return base
        # A match child serves plain ws:// at the root of its own port: keep only the host.
        hostname = urlsplit(base).hostname or "localhost"
        if ":" in hostname:
            hostname = f"[{hostname}]"
        return f"ws://{hostname}:{port}"

    def game_urls(self, request, game_id: str, token: str) -> Dict[str, str]:
        """``ws_url`` (with the token) and ``spectate_url`` of a lobby game."""
        path = f"{self.base(request)}/api/games/{quote(game_id, safe='')}/ws"
        return {"ws_url": f"{path}?token={quote(token, safe='')}", "spectate_url": path}


class _CountingSite(Site):
    """A Site that reports every finished request (for metrics)."""

    on_request = None

    def log(self, request):
        super().log(request)
        if self.on_request is not None:
            self.on_request(request)


def make_site(resource, reactor=None, on_request=None) -> Site:
    """A Site with bounded request bodies and access logs without query strings or referrers' queries."""
    site = _CountingSite(resource, logFormatter=access_log_formatter, reactor=reactor, timeout=HTTP_IDLE_TIMEOUT)
    site.on_request = on_request
    site.requestFactory = BoundedRequest
    site.displayTracebacks = False
    return site
