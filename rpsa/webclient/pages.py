"""Serves the browser client's files: the game page, the console, their scripts, styles and icons.

The files ship inside the package (``rpsa/webclient/static``) and are read once,
when the app is built.  Every answer carries its content type, a strong ETag
(``If-None-Match`` answers 304), ``Cache-Control: no-cache`` (the browser keeps
a copy but asks again, so an upgraded server is never mixed with stale
scripts), and a Content-Security-Policy that allows nothing but this origin's
own scripts, styles, images and connections.
"""

from __future__ import annotations

import hashlib
import os
from typing import Dict, Iterable, NamedTuple

from klein import Klein

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

CONTENT_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
}


class StaticFile(NamedTuple):
    """One file as served: its bytes, content type and ETag."""

    body: bytes
    content_type: bytes
    etag: bytes


def load_files(directory: str = STATIC_DIR) -> Dict[str, StaticFile]:
    """Every servable file of ``directory`` (its own level only), by name."""
    files = {}
    for name in sorted(os.listdir(directory)):
        content_type = CONTENT_TYPES.get(os.path.splitext(name)[1])
        path = os.path.join(directory, name)
        if content_type is None or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            body = f.read()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'
        files[name] = StaticFile(body, content_type, etag)
    return files


def content_security_policy(connect_sources: Iterable[str] = ()) -> bytes:
    """The policy of every page: this origin only; ``connect_sources`` adds WebSocket origins (a public URL's)."""
    connect = " ".join(["'self'", *connect_sources])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ).encode("ascii")


class WebClient:
    """The browser client: a Klein app serving its files (mounted at ``/static/``), and its two pages.

    The root app (:class:`rpsa.daemon.root.RootAPI`) serves :meth:`index` at
    ``/`` and :meth:`console` at ``/console``, and mounts :meth:`resource` at
    ``/static/`` (whose routes are relative to it: ``/<name>``).

    ``connect_sources``: origins the pages may open WebSockets to besides their
    own (e.g. ``wss://games.example.org`` when ``--public-url`` names another
    host); ``directory``: where the files are (the package's own by default).
    """

    app = Klein()

    def __init__(self, connect_sources: Iterable[str] = (), directory: str = STATIC_DIR):
        self.files = load_files(directory)
        self._policy = content_security_policy(connect_sources)

    def resource(self):
        """The Twisted Web resource serving the files (below its mount point)."""
        return self.app.resource()

    def index(self, request) -> bytes:
        """The game page: the lobby and a match."""
        return self.serve(request, "index.html")

    def console(self, request) -> bytes:
        """The operator console."""
        return self.serve(request, "console.html")

    @app.route("/<name>", methods=["GET", "HEAD"])
    def static(self, request, name):
        return self.serve(request, name)

    def serve(self, request, name: str) -> bytes:
        """Answer with the file ``name`` (404 if there is none), or 304 when the client's copy is current."""
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"Referrer-Policy", b"no-referrer")
        request.setHeader(b"Content-Security-Policy", self._policy)
        request.setHeader(b"X-Frame-Options", b"DENY")
        request.setHeader(b"Cross-Origin-Opener-Policy", b"same-origin")
        static = self.files.get(name)
        if static is None:
            request.setResponseCode(404)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            request.setHeader(b"Cache-Control", b"no-store")
            return b"not found\n"
        request.setHeader(b"Cache-Control", b"no-cache")
        request.setHeader(b"ETag", static.etag)
        tags = _etags(request.getHeader(b"if-none-match"))
        if static.etag in tags or b"*" in tags:
            request.setResponseCode(304)
            return b""
        request.setHeader(b"Content-Type", static.content_type)
        return static.body


def _etags(header) -> set:
    """The entity tags of an ``If-None-Match`` header (weak ones compared as strong, as RFC 9110 asks for GET)."""
    if not header:
        return set()
    return {tag.strip().removeprefix(b"W/") for tag in header.split(b",")}
