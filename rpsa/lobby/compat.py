"""The original Varcade server's routes, so its matchmaker and Phaser client work unchanged.

``POST /create_game``, ``/join_game``, ``/remove_game``, ``/remove_player``,
``GET /active_games`` with the original bodies and answers (errors are
``{"message"}`` with 400 or 404), and WebSocket upgrades at
``/?game_token=T&user_id=U``.  The ``gameToken`` handed out is the player's own
seat token.
"""

from __future__ import annotations

import functools
import json

from klein import Klein
from werkzeug.exceptions import HTTPException
from twisted.logger import Logger

from rpsa.lobby import games as lobby_errors
from rpsa.play import wire
from rpsa.web import MAX_BODY_BYTES, APIError, json_response
from rpsa.play.websocket import make_resource

log = Logger()


class CompatError(Exception):
    """An error answered the original's way: ``{"message"}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def requires_key(route):
    """401 ``{"message"}`` unless the request carries the API key (when one is set)."""

    @functools.wraps(route)
    def checked(self, request, *args, **kwargs):
        if not self.access.allowed(request):
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="rpsa"')
            raise CompatError(401, "unauthorized: send 'Authorization: Bearer <api key>'")
        return route(self, request, *args, **kwargs)

    return checked


def _body(request) -> dict:
    if getattr(request, "body_too_large", False):
        raise CompatError(413, f"request body over {MAX_BODY_BYTES} bytes")
    request.content.seek(0)
    raw = request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:  # a request that did not bound its body itself
        raise CompatError(413, f"request body over {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise CompatError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise CompatError(400, "request body must be a JSON object")
    return body


def _fields(body: dict, *names: str):
    values = []
    for name in names:
        value = body.get(name)
        if not isinstance(value, str) or not value:
            raise CompatError(400, f"{name} must be a non-empty string")
        if len(value) > 64:
            raise CompatError(400, f"{name} must be at most 64 characters")
        values.append(value)
    return values


class CompatAPI:
    """The original server's HTTP and WebSocket routes over the same lobby."""

    app = Klein()

    def __init__(self, lobby, access):
        self.lobby = lobby
        self.access = access

    def resource(self):
        """The Twisted Web resource serving these routes."""
        return self.app.resource()

    @app.handle_errors(CompatError)
    def _compat_error(self, request, failure):
        return json_response(request, {"message": failure.value.message}, failure.value.status)

    @app.handle_errors(APIError)
    def _api_error(self, request, failure):
        return json_response(request, {"message": failure.value.message}, failure.value.status)

    @app.handle_errors(HTTPException)
    def _routing_error(self, request, failure):
        return json_response(request, {"message": failure.value.description}, failure.value.code)

    @app.handle_errors(Exception)  # last: handlers are tried in order
    def _unexpected_error(self, request, failure):
        log.failure("unexpected error answering {path}", failure, path=request.path.decode("latin-1"))
        return json_response(request, {"message": "internal server error"}, 500)

    @app.route("/create_game", methods=["POST"])
    @requires_key
    def create_game(self, request):
        game_id, user_id, username = _fields(_body(request), "gameId", "userId", "username")
        try:
            _, seat = self.lobby.create(user_id, username, game_id)
        except lobby_errors.GameExists:
            raise CompatError(400, f"Game {game_id} already exists") from None
        except (lobby_errors.LobbyFull, lobby_errors.Draining) as e:
            raise CompatError(503, e.message) from None
        return json_response(request, {"gameToken": seat.token})

    @app.route("/join_game", methods=["POST"])
    @requires_key
    def join_game(self, request):
        game_id, user_id, username = _fields(_body(request), "gameId", "userId", "username")
        try:
            _, seat = self.lobby.join(game_id, user_id, username)
        except lobby_errors.NoSuchGame:
            raise CompatError(400, f"Game {game_id} does not exist") from None
        except (lobby_errors.SeatsFull, lobby_errors.AlreadySeated):
            raise CompatError(400, f"Game {game_id} is full") from None
        except lobby_errors.Draining as e:
            raise CompatError(503, e.message) from None
        return json_response(request, {"gameToken": seat.token})

    @app.route("/remove_game", methods=["POST"])
    @requires_key
    def remove_game(self, request):
        (game_id,) = _fields(_body(request), "gameId")
        try:
            self.lobby.remove(game_id, wire.GAME_REMOVED)
        except lobby_errors.NoSuchGame:
            pass  # the original answers 200 null either way
        return json_response(request, None)

    @app.route("/remove_player", methods=["POST"])
    @requires_key
    def remove_player(self, request):
        game_id, user_id = _fields(_body(request), "gameId", "userId")
        try:
            self.lobby.remove_player(game_id, user_id)
        except lobby_errors.NoSuchGame:
            raise CompatError(400, f"Game {game_id} does not exist") from None
        except lobby_errors.HostCannotBeRemoved:
            raise CompatError(400, "Cannot remove the host") from None
        except lobby_errors.NoSuchPlayer:
            raise CompatError(404, f"Player {user_id} not found") from None
        return json_response(request, None)

    @app.route("/active_games", methods=["GET"])
    @requires_key
    def active_games(self, request):
        return json_response(request, [session.game_id for session in self.lobby.list()])

    @app.route("/", methods=["GET"])
    def websocket(self, request):
        # No API key: the token proves the seat; it must belong to user_id.
        token = (request.args.get(b"game_token") or [b""])[0].decode("utf-8", "replace")
        found = self.lobby.find_token(token) if token else None
        if found is None:
            raise CompatError(403 if token else 404, "unknown game_token" if token else "not found")
        session, seat = found
        user_id = (request.args.get(b"user_id") or [b""])[0].decode("utf-8", "replace")
        if user_id != seat.user_id:
            raise CompatError(403, "the game_token does not belong to this user_id")
        return make_resource(self.lobby.factory(session.game_id))

    @app.route("/<path:rest>", branch=False)
    def not_found(self, request, rest):
        raise APIError(404, "not_found", "no such route")
