"""The URLs rpsa hands out: a game's ``ws_url`` and ``spectate_url``, a launched match's, from ``--public-url``.

``--public-url`` (and ``--match-public-url``) may be written ``http(s)://`` or
``ws(s)://`` alike (:func:`public_base`); without it the URLs are built from
each request's ``Host``.  In a cluster a game's URLs name the public URL of the
node that holds it.
"""

from __future__ import annotations

from typing import Dict, List, Optional
from urllib.parse import quote, urlsplit


PUBLIC_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def public_base(url: str) -> Optional[str]:
    """``url`` (``http(s)://`` or ``ws(s)://`` host[:port][/prefix]) as a ``ws(s)://`` base, or None if it is not one."""
    parts = urlsplit(url)
    try:
        parts.port  # raises ValueError for a port that is not a number, or out of range
    except ValueError:
        return None
    if parts.scheme not in PUBLIC_SCHEMES or not parts.hostname or parts.query or parts.fragment:
        return None
    return f"{PUBLIC_SCHEMES[parts.scheme]}://{parts.netloc}{parts.path.rstrip('/')}"


class URLBuilder:
    """Builds the ws:// and wss:// URLs handed out.

    ``public_url``: ``--public-url`` (http and ws map to ws, https and wss to
    wss), or None to build them from each request's Host; ``match_url``:
    ``--match-public-url``, the template of a launched match's URL with
    ``{port}`` (None: ``ws://HOST:PORT/ws``).
    """

    def __init__(self, public_url: Optional[str] = None, match_url: Optional[str] = None):
        self._base = public_base(public_url) if public_url else None
        self._match_url = match_url
        self._others: Dict[str, str] = {}  # other nodes' public URLs -> their bases

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

    def match_url(self, request, port: int) -> str:
        """The WebSocket URL of the match child on ``port`` (``--match-public-url``, or its own port)."""
        if self._match_url is not None:
            return self._match_url.replace("{port}", str(port))
        return f"{self.base(request, port=port)}/ws"

    def game_urls(self, request, game_id: str, token: str, public_url: Optional[str] = None) -> Dict[str, str]:
        """``ws_url`` (with the token) and ``spectate_url`` of a lobby game (held by the node at ``public_url``)."""
        if public_url is None:
            base = self.base(request)
        else:
            base = self._others.get(public_url)
            if base is None:
                base = self._others[public_url] = public_base(public_url) or self.base(request)
        path = f"{base}/api/games/{quote(game_id, safe='')}/ws"
        return {"ws_url": f"{path}?token={quote(token, safe='')}", "spectate_url": path}
