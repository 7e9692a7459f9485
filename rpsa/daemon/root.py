"""The root Klein app of the main listeners: ``/healthz``, ``/metrics``, and the three APIs mounted by branch.

``/api/match...`` is the match API (:mod:`rpsa.matches.api`), ``/api/...`` the
lobby's native API (:mod:`rpsa.lobby.api`), ``/static/...`` the browser
client's files (:mod:`rpsa.webclient.pages`, whose pages are ``/`` and
``/console``), and everything else the original server's routes
(:mod:`rpsa.lobby.compat`, which keeps ``/?game_token=...``).  Each is a Klein app of its own,
with routes relative to its mount point; :func:`route_templates` lists every
route of the tree, for the metrics' labels.
"""

from __future__ import annotations

from typing import List, Optional

from rpsa.contract import openapi
from rpsa.cors import CORSPolicy
from rpsa.daemon.metrics import exposition
from rpsa.edge import RequestGate, Upgrade
from rpsa.lobby.api import LobbyAPI
from rpsa.lobby.compat import CompatAPI
from rpsa.matches.api import MatchAPI
from rpsa.web import (
    APIError,
    EncodedSlashes,
    Endpoint,
    Shortcuts,
    error_response,
    json_response,
    message_response,
    mounted,
    new_app,
    requires_key,
    route_table,
)
from rpsa.webclient.pages import WebClient

# Paths answered in the native API's error style; the rest are the original server's.
NATIVE_PREFIXES = (b"/api/", b"/healthz", b"/metrics", b"/openapi.json")

# The original server's routes its matchmaker and clients call most (create and join), served without the
# root app's routing pass (rpsa.web.Shortcuts) and without Klein (rpsa.web.Endpoint, calling the compat
# API's handlers): they can only reach the compat branch.
COMPAT_SHORTCUTS = (b"create_game", b"join_game")


class RootAPI:
    """The server's root resource.

    ``access``: the :class:`~rpsa.web.AccessPolicy` (``/metrics`` needs the
    key); ``draining``: an object whose ``active`` attribute is true while the
    server drains (``/healthz`` answers 503 then); ``metrics``: the
    :class:`~rpsa.daemon.metrics.Metrics` (None: ``/metrics`` is 404);
    ``lobby_api``, ``compat_api``: the :class:`~rpsa.lobby.api.LobbyAPI` and
    :class:`~rpsa.lobby.compat.CompatAPI`; ``match_api``: the
    :class:`~rpsa.matches.api.MatchAPI` (None: the launcher is off);
    ``webclient``: the :class:`~rpsa.webclient.pages.WebClient` (None: no
    pages, ``/`` is the original server's 404); ``dependencies``: services the
    server can run without (Redis), each with a ``name`` and a ``healthy``
    property: while one is not healthy, ``/healthz`` answers 200 ``{"status":
    "degraded", "degraded": [names]}`` (the process is alive and must not be
    restarted for it).
    """

    app = new_app()

    def __init__(self, access, draining, metrics, lobby_api: LobbyAPI, compat_api: CompatAPI, match_api=None,
                 webclient=None, dependencies=()):
        self.access = access
        self.webclient = webclient
        self._static = webclient.resource() if webclient is not None else None
        self.draining = draining
        self.metrics = metrics
        self._upgrades = [Upgrade("/api" + u.template, u.handler, u.render_error) for u in lobby_api.upgrades()]
        self._upgrades += compat_api.upgrades()
        self._lobby = lobby_api.resource()
        self._compat = compat_api.resource()
        self._compat_api = compat_api
        self._matches = match_api.resource() if match_api is not None else None
        self._dependencies = list(dependencies)

    def resource(self, cors: Optional[CORSPolicy] = None):
        """The Twisted Web resource serving every route, behind the :class:`~rpsa.edge.RequestGate`.

        The gate is outermost: the :class:`~rpsa.web.Shortcuts` (create and join
        without the root app's routing pass) are checked like every other route.
        ``cors``: the :class:`~rpsa.cors.CORSPolicy` of ``--cors-origin`` (None: no CORS).
        """
        shortcuts = Shortcuts(EncodedSlashes(self.app.resource()),
                              {path: Endpoint(getattr(self._compat_api, path.decode()), message_response)
                               for path in COMPAT_SHORTCUTS})
        return RequestGate(shortcuts, route_table(self.app, MOUNTS), render_error, self._upgrades, cors)

    @app.route("/healthz", methods=["GET"])
    def healthz(self, request):
        if self.draining.active:
            return json_response(request, {"status": "draining"}, 503)
        degraded = [d.name for d in self._dependencies if not d.healthy]
        if degraded:
            return json_response(request, {"status": "degraded", "degraded": degraded})
        return json_response(request, {"status": "ok"})

    @app.route("/metrics", methods=["GET"])
    @requires_key
    def metrics_page(self, request):
        # Without the key only on --metrics-listen listeners (rpsa.daemon.metrics.metrics_site).
        if self.metrics is None:
            raise APIError(404, "not_found", "metrics are off")
        return exposition(request, self.metrics)

    @app.route("/openapi.json", methods=["GET"])
    def openapi_document(self, request):
        # No API key: the contract is public.
        request.setHeader(b"Content-Type", b"application/json")
        request.setHeader(b"Cache-Control", b"no-cache")
        return _DOCUMENT.get()

    @app.route("/api/match", branch=True)
    def match_api(self, request):
        if self._matches is None:
            raise APIError(404, "not_found", "the match launcher is off")
        return mounted(request, self._matches)

    @app.route("/api/", branch=True)
    def lobby_api(self, request):
        return mounted(request, self._lobby)

    # The pages: before the original routes' branch, which would take "/" too.
    @app.route("/", methods=["GET", "HEAD"])
    def index(self, request):
        # The original server's WebSocket URL is /?game_token=...: it stays theirs.
        if self.webclient is None or b"game_token" in request.args or request.getHeader(b"upgrade"):
            return mounted(request, self._compat)
        return self.webclient.index(request)

    @app.route("/console", methods=["GET", "HEAD"])
    def console(self, request):
        if self.webclient is None:
            return mounted(request, self._compat)
        return self.webclient.console(request)

    @app.route("/static/", branch=True)
    def static_files(self, request):
        return mounted(request, self._static if self._static is not None else self._compat)

    @app.route("/", branch=True)
    def compat_api(self, request):
        return mounted(request, self._compat)


# The app each mount route of RootAPI serves (by the route's endpoint).
MOUNTS = {"match_api": MatchAPI.app, "lobby_api": LobbyAPI.app, "static_files": WebClient.app,
          "compat_api": CompatAPI.app}


def route_templates() -> List[str]:
    """Every route the root resource serves, as a template (``/api/games/{game_id}``)."""
    return list(route_table(RootAPI.app, MOUNTS))


def render_error(request, error: APIError) -> bytes:
    """A refusal in the style of the API the path belongs to."""
    if request.path.startswith(NATIVE_PREFIXES) or request.path == b"/api":
        return error_response(request, error)
    return message_response(request, error)


class _Document:
    """The OpenAPI document's bytes, built on first use (and kept: it never changes in a process)."""

    _bytes = None

    def get(self) -> bytes:
        if self._bytes is None:
            self._bytes = openapi.document_bytes()
        return self._bytes


_DOCUMENT = _Document()
