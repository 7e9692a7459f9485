"""CORS for the HTTP APIs (``--cors-origin``): preflights answered, headers for the allowed origins.

With no ``--cors-origin`` nothing here is used and the API answers exactly as without it.
With origins configured, the daemon's :class:`~rpsa.edge.RequestGate` hands each request
to :meth:`CORSPolicy.answer` once the request is well formed (the gate is the one place
``OPTIONS`` is answered):

- a preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from an
  allowed origin is answered ``204`` with ``Access-Control-Allow-Origin`` (the origin),
  ``-Allow-Methods`` (GET, POST, PUT, DELETE), ``-Allow-Headers`` (Authorization,
  Content-Type) and ``-Max-Age`` (600 s).  A preflight needs no API key (browsers never send
  one with it); the actual request still does.  A preflight from any other origin is
  answered ``403`` without CORS headers, so the browser refuses the request;
- any other request carrying an allowed ``Origin`` is answered as usual, plus
  ``Access-Control-Allow-Origin`` and ``Access-Control-Expose-Headers: WWW-Authenticate``;
  one from another origin gets no CORS header (the browser hides the answer from the page);
- every answer to a request with an ``Origin`` says ``Vary: Origin``, so caches keep the
  answers per origin.

``*`` allows every origin (the original Varcade server answered every origin); an allowed
origin is echoed back rather than ``*``, which also works for the pages' requests that
carry the API key.  Origins are compared as browsers send them: scheme, host and port,
lower-case, no trailing slash.
"""

from __future__ import annotations

import json
from typing import Iterable, Optional
from urllib.parse import urlsplit

ALLOWED_METHODS = b"GET, POST, PUT, DELETE"
ALLOWED_HEADERS = b"Authorization, Content-Type"
EXPOSED_HEADERS = b"WWW-Authenticate"
MAX_AGE = b"600"


def normalize_origin(text: str) -> str:
    """``scheme://host[:port]`` of ``text`` (lower-case), or ``*``; ValueError if it is not an origin."""
    text = text.strip()
    if text == "*":
        return text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
            or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password):
        raise ValueError(f"expected an origin such as https://games.example.com[:port] or *, got {text!r}")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


class CORSPolicy:
    """Which origins may call the API from a browser.

    :param origins: origins as given to ``--cors-origin`` (normalized here); ``*`` allows all.
    """

    def __init__(self, origins: Iterable[str]):
        self.origins = frozenset(normalize_origin(o) for o in origins)
        self._any = "*" in self.origins

    def answer(self, request) -> Optional[bytes]:
        """The CORS part of ``request``: its headers set, and a preflight's answer; None: answer it as usual."""
        origin = request.getHeader(b"origin")
        if origin is None:
            return None
        request.setHeader(b"Vary", b"Origin")
        allowed = self.allows(origin.decode("latin-1"))
        if request.method == b"OPTIONS" and request.getHeader(b"access-control-request-method") is not None:
            return _preflight(request, origin, allowed)
        if allowed:
            request.setHeader(b"Access-Control-Allow-Origin", origin)
            request.setHeader(b"Access-Control-Expose-Headers", EXPOSED_HEADERS)
        return None

    def allows(self, origin: str) -> bool:
        """Whether a request with this ``Origin`` header value may be answered with CORS headers."""
        if self._any:
            return True
        try:
            return normalize_origin(origin) in self.origins
        except ValueError:
            return False


def _preflight(request, origin: bytes, allowed: bool) -> bytes:
    """A preflight's answer: 204 with the CORS headers for an allowed origin, else 403."""
    request.setHeader(b"Cache-Control", b"no-store")
    if not allowed:
        request.setResponseCode(403)
        request.setHeader(b"Content-Type", b"application/json")
        message = "this origin may not call the API (see --cors-origin)"
        if request.path.startswith(b"/api/"):
            body = {"error": {"code": "origin_not_allowed", "message": message}}
        else:  # the original's routes answer errors as {"message"}
            body = {"message": message}
        return json.dumps(body, separators=(",", ":")).encode()
    request.setResponseCode(204)
    request.setHeader(b"Access-Control-Allow-Origin", origin)
    request.setHeader(b"Access-Control-Allow-Methods", ALLOWED_METHODS)
    request.setHeader(b"Access-Control-Allow-Headers", ALLOWED_HEADERS)
    request.setHeader(b"Access-Control-Max-Age", MAX_AGE)
    return b""
