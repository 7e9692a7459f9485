"""The lobby's HTTP API (``/api/...``, ``/healthz``), a Klein app with its state in the instance.

Every route but ``/healthz`` and the WebSocket endpoints needs the API key when
one is configured.  Errors are ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import functools
from urllib.parse import unquote

from klein import Klein
from prometheus_client import CONTENT_TYPE_LATEST
from twisted.logger import Logger
from twisted.web.resource import Resource
from werkzeug.exceptions import HTTPException
from werkzeug.routing import UnicodeConverter

from rpsa.lobby import games as lobby_errors
from rpsa.play import wire
from rpsa.lobby.compat import CompatAPI
from rpsa.matches.launcher import LaunchError
from rpsa.rules import FIGHTERS
from rpsa.web import (
    AccessPolicy,
    APIError,
    URLBuilder,
    error_response,
    id_field,
    json_response,
    read_json_object,
    rounds_field,
)
from rpsa.play.websocket import make_resource

log = Logger()

# How lobby errors map to HTTP statuses.
LOBBY_STATUS = {
    lobby_errors.NoSuchGame: 404,
    lobby_errors.GameExists: 409,
    lobby_errors.SeatsFull: 409,
    lobby_errors.AlreadySeated: 409,
    lobby_errors.NoSuchPlayer: 404,
    lobby_errors.HostCannotBeRemoved: 409,
    lobby_errors.LobbyFull: 503,
    lobby_errors.Draining: 503,
    lobby_errors.NoBots: 404,
}


def requires_key(route):
    """Refuse the request with 401 unless it carries the API key (when one is set)."""

    @functools.wraps(route)
    def checked(self, request, *args, **kwargs):
        if not self.access.allowed(request):
            raise APIError(401, "unauthorized", "this route needs 'Authorization: Bearer <api key>'")
        return route(self, request, *args, **kwargs)

    return checked


class _SegmentConverter(UnicodeConverter):
    """A route parameter as re-encoded by :class:`_EncodedSlashes`, decoded again."""

    def to_python(self, value):
        return unquote(value)


class _EncodedSlashes(Resource):
    """Keeps a decoded ``/`` (sent as ``%2F``) inside its path segment.

    Klein joins the decoded segments with ``/`` before routing, so a game id
    holding a slash would otherwise split into two segments and match no route.
    ``%`` and ``/`` are re-encoded here and decoded by :class:`_SegmentConverter`.
    """

    isLeaf = True

    def __init__(self, inner):
        super().__init__()
        self._inner = inner

    def render(self, request):
        request.postpath = [s.replace(b"%", b"%25").replace(b"/", b"%2F") for s in request.postpath]
        return self._inner.render(request)


class LobbyAPI:
    """The HTTP API of the lobby; ``resource()`` is the root resource of the server."""

    app = Klein()
    app.url_map.converters["default"] = _SegmentConverter  # before any route is added

    def __init__(self, lobby, access: AccessPolicy, urls: URLBuilder, matches=None, metrics=None, webclient=None):
        self.lobby = lobby
        self.webclient = webclient
        self.access = access
        self.urls = urls
        self.matches = matches  # the MatchAPI, when the launcher is on
        self.metrics = metrics
        self.compat = CompatAPI(lobby, access)

    def resource(self):
        """The Twisted Web resource serving this API."""
        return _EncodedSlashes(self.app.resource())

    @app.handle_errors(APIError)
    def _api_error(self, request, failure):
        return error_response(request, failure.value)

    @app.handle_errors(LaunchError)
    def _launch_error(self, request, failure):
        error = failure.value
        return error_response(request, APIError(error.status, error.code, error.message))

    @app.handle_errors(lobby_errors.LobbyError)
    def _lobby_error(self, request, failure):
        error = failure.value
        return error_response(request, APIError(LOBBY_STATUS.get(type(error), 400), error.code, error.message))

    @app.handle_errors(HTTPException)
    def _routing_error(self, request, failure):
        error = failure.value
        code = "method_not_allowed" if error.code == 405 else "not_found" if error.code == 404 else "bad_request"
        return error_response(request, APIError(error.code, code, error.description))

    @app.handle_errors(Exception)  # last: handlers are tried in order
    def _unexpected_error(self, request, failure):
        log.failure("unexpected error answering {method} {path}", failure,
                    method=request.method.decode("latin-1"), path=request.path.decode("latin-1"))
        return error_response(request, APIError(500, "internal_error", "internal server error"))

    # -- service -------------------------------------------------------------

    @app.route("/healthz", methods=["GET"])
    def healthz(self, request):
        if self.lobby.draining:
            return json_response(request, {"status": "draining"}, 503)
        return json_response(request, {"status": "ok"})

    @app.route("/metrics", methods=["GET"])
    @requires_key
    def metrics_page(self, request):
        # Without the key only on --metrics-listen listeners (rpsa.daemon.metrics.metrics_site).
        if self.metrics is None:
            raise APIError(404, "not_found", "metrics are off")
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode())
        return self.metrics.render()

    @app.route("/api/characters", methods=["GET"])
    @requires_key
    def characters(self, request):
        return json_response(request, {"characters": [f.to_json() for f in FIGHTERS.values()]})

    # -- games ---------------------------------------------------------------

    @app.route("/api/games", methods=["POST"])
    @requires_key
    def create_game(self, request):
        body = read_json_object(request)
        user_id = id_field(body, "user_id")
        username = id_field(body, "username")
        game_id = id_field(body, "game_id", required=False)
        rounds = rounds_field(body)
        session, seat = self.lobby.create(user_id, username, game_id, rounds, self._bot_level(body))
        return json_response(request, self._seat_answer(request, session, seat), 201)

    @app.route("/api/games", methods=["GET"])
    @requires_key
    def list_games(self, request):
        joinable = _flag(request, b"joinable")
        return json_response(request, {"games": [g.summary() for g in self.lobby.list(joinable)]})

    @app.route("/api/games/<game_id>", methods=["GET"])
    @requires_key
    def get_game(self, request, game_id):
        return json_response(request, self.lobby.get(game_id).summary())

    @app.route("/api/games/<game_id>", methods=["DELETE"])
    @requires_key
    def delete_game(self, request, game_id):
        self.lobby.remove(game_id, wire.GAME_REMOVED)
        log.info("game {game_id} removed through the API", game_id=game_id)
        return json_response(request, {"game_id": game_id, "removed": True})

    @app.route("/api/games/<game_id>/players", methods=["POST"])
    @requires_key
    def join_game(self, request, game_id):
        body = read_json_object(request)
        user_id = id_field(body, "user_id")
        username = id_field(body, "username")
        session, seat = self.lobby.join(game_id, user_id, username)
        return json_response(request, self._seat_answer(request, session, seat), 201)

    @app.route("/api/games/<game_id>/players/<user_id>", methods=["DELETE"])
    @requires_key
    def remove_player(self, request, game_id, user_id):
        self.lobby.remove_player(game_id, user_id)
        return json_response(request, {"game_id": game_id, "user_id": user_id, "removed": True})

    @app.route("/api/games/<game_id>/ws", methods=["GET"])
    def game_websocket(self, request, game_id):
        # No API key: a player proves its seat with its token, spectating is open.
        return make_resource(self.lobby.get(game_id))

    # -- matches ---------------------------------------------------------------

    @app.route("/api/match", methods=["PUT"])
    @requires_key
    def put_match(self, request):
        return self._launcher_api().put_match(request)

    @app.route("/api/match", methods=["GET"])
    @requires_key
    def list_matches(self, request):
        return self._launcher_api().list_matches(request)

    @app.route("/api/match/<match_id>", methods=["GET"])
    @requires_key
    def get_match(self, request, match_id):
        return self._launcher_api().get_match(request, match_id)

    @app.route("/api/match/<match_id>", methods=["DELETE"])
    @requires_key
    def delete_match(self, request, match_id):
        return self._launcher_api().delete_match(request, match_id)

    def _launcher_api(self):
        if self.matches is None:
            raise APIError(404, "not_found", "the match launcher is off")
        return self.matches

    # -- the rest ------------------------------------------------------------

    @app.route("/api/", branch=True)
    def api_not_found(self, request):
        raise APIError(404, "not_found", "no such API route")

    @app.route("/", methods=["GET", "HEAD"])
    def index(self, request):
        # The original server's WebSocket URL is /?game_token=...: it keeps it.
        if self.webclient is None or b"game_token" in request.args:
            return self.compat.resource()
        return self.webclient.serve(request, "index.html")

    @app.route("/console", methods=["GET", "HEAD"])
    def console_page(self, request):
        if self.webclient is None:
            return self.compat.resource()
        return self.webclient.serve(request, "console.html")

    @app.route("/static/<name>", methods=["GET", "HEAD"])
    def static_file(self, request, name):
        if self.webclient is None:
            return self.compat.resource()
        return self.webclient.serve(request, name)

    @app.route("/", branch=True)
    def original_routes(self, request):
        """Everything else: the original server's routes (and 404)."""
        return self.compat.resource()

    def _bot_level(self, body):
        """The bot level asked for with ``"opponent": "bot"`` (and an optional ``level``), or None."""
        opponent, level = body.get("opponent"), body.get("level")
        if opponent is None:
            if level is not None:
                raise APIError(400, "bad_field", "'level' goes with \"opponent\": \"bot\"")
            return None
        if opponent != "bot":
            raise APIError(400, "bad_field", "'opponent' must be \"bot\" (or absent, for a human opponent)")
        bots = self.lobby.bots
        if bots is None:
            raise APIError(404, "bots_off", "this server has no bots")
        if level is not None and (not isinstance(level, str) or level not in bots.levels):
            raise APIError(400, "bad_field", f"'level' must be one of {', '.join(bots.levels)}")
        return bots.check_level(level)

    def _seat_answer(self, request, session, seat):
        answer = {"game_id": session.game_id, "player_token": seat.token}
        answer.update(self.urls.game_urls(request, session.game_id, seat.token))
        return answer


def _flag(request, name: bytes) -> bool:
    values = request.args.get(name) or [b""]
    return values[0].lower() in (b"true", b"1", b"yes")
