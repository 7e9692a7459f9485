"""The lobby's native HTTP API, a Klein app mounted at ``/api/`` (its routes are relative to it).

Every route but the game WebSocket needs the API key when one is configured.
Errors are ``{"error": {"code", "message"}}``; lobby errors map to statuses
through :data:`LOBBY_STATUS`.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger

from rpsa.lobby import games as lobby_errors
from rpsa.lobby.public import key_or_public
from rpsa.lobby.requests import LobbyRequests
from rpsa.play import wire
from rpsa.play.websocket import make_resource
from rpsa.rules import FIGHTERS
from rpsa.contract.bodies import CreateGame, JoinGame
from rpsa.edge import Upgrade
from rpsa.web import (
    APIError,
    add_not_found,
    error_response,
    json_response,
    new_app,
    read_body,
    require_upgrade,
    requires_key,
)

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


def lobby_api_error(error: lobby_errors.LobbyError) -> APIError:
    """The APIError a lobby error is answered with."""
    return APIError(LOBBY_STATUS.get(type(error), 400), error.code, error.message)


class LobbyAPI:
    """``/api/characters`` and ``/api/games...`` over a lobby.

    ``lobby``: the :class:`~rpsa.lobby.games.Lobby`; ``access``: the
    :class:`~rpsa.web.AccessPolicy` (API key); ``urls``: the
    :class:`~rpsa.web.URLBuilder` for the URLs handed out; ``public``: a
    :class:`~rpsa.lobby.public.PublicLobby` (``--public-lobby``: listing, the
    fighters, creating and joining open to anonymous clients, rate-limited),
    or None; ``games``: what the routes ask of the lobby, a
    :class:`~rpsa.lobby.requests.LobbyRequests` (the default, over ``lobby``)
    or, in a cluster, a :class:`~rpsa.cluster.games.ClusterGames`.
    """

    app = new_app(translations=[(lobby_errors.LobbyError, lobby_api_error)])

    def __init__(self, lobby, access, urls, public=None, games=None):
        self.lobby = lobby
        self.access = access
        self.urls = urls
        self.public = public
        self.games = games if games is not None else LobbyRequests(lobby)

    def resource(self):
        """The Twisted Web resource serving this API (below its mount point)."""
        return self.app.resource()

    @app.route("/access", methods=["GET"])
    def access_info(self, request):
        # No key: what a client needs to know before it calls anything else (no secret in it).
        return json_response(request, {
            "key_required": not self.access.open,
            "public_lobby": self.public is not None,
            "bot_levels": list(self.lobby.bots.levels) if self.lobby.bots is not None else [],
        })

    @app.route("/characters", methods=["GET"])
    @key_or_public
    def characters(self, request):
        return json_response(request, {"characters": [f.to_json() for f in FIGHTERS.values()]})

    @app.route("/games", methods=["POST"])
    @key_or_public
    @defer.inlineCallbacks
    def create_game(self, request):
        body = read_body(request, CreateGame)
        rounds = 3 if body.rounds is None else body.rounds
        seated = yield self.games.create(body.user_id, body.username, body.game_id, rounds,
                                         bot_level=self._bot_level(body))
        return json_response(request, self._seat_answer(request, seated), 201)

    @app.route("/games", methods=["GET"])
    @key_or_public
    @defer.inlineCallbacks
    def list_games(self, request):
        joinable = _flag(request, b"joinable")
        return json_response(request, {"games": (yield self.games.list(joinable))})

    @app.route("/games/<game_id>", methods=["GET"])
    @key_or_public
    @defer.inlineCallbacks
    def get_game(self, request, game_id):
        return json_response(request, (yield self.games.get(game_id)))

    @app.route("/games/<game_id>", methods=["DELETE"])
    @requires_key
    @defer.inlineCallbacks
    def delete_game(self, request, game_id):
        yield self.games.remove(game_id, wire.GAME_REMOVED)
        log.info("game {game_id} removed through the API", game_id=game_id)
        return json_response(request, {"game_id": game_id, "removed": True})

    @app.route("/games/<game_id>/players", methods=["POST"])
    @key_or_public
    @defer.inlineCallbacks
    def join_game(self, request, game_id):
        body = read_body(request, JoinGame)
        seated = yield self.games.join(game_id, body.user_id, body.username)
        return json_response(request, self._seat_answer(request, seated), 201)

    @app.route("/games/<game_id>/players/<user_id>", methods=["DELETE"])
    @requires_key
    @defer.inlineCallbacks
    def remove_player(self, request, game_id, user_id):
        yield self.games.remove_player(game_id, user_id)
        return json_response(request, {"game_id": game_id, "user_id": user_id, "removed": True})

    @app.route("/games/<game_id>/ws", methods=["GET"])
    def game_websocket(self, request, game_id):
        # Upgrade requests are served by upgrade() straight from the edge
        # (rpsa.edge.RequestGate); what reaches this route is not one: 404 or 426.
        self.lobby.factory(game_id)
        require_upgrade(request)
        return self.upgrade(request, game_id)

    def upgrade(self, request, game_id: str):
        """The resource upgrading ``request`` to a WebSocket of game ``game_id`` (no API key: a player
        proves its seat with its token, spectating is open); raises APIError 404 for an unknown game."""
        try:
            return make_resource(self.lobby.factory(game_id))
        except lobby_errors.LobbyError as e:
            raise lobby_api_error(e) from None

    def upgrades(self):
        """This API's WebSocket route, for the edge (:class:`rpsa.edge.Upgrade`), relative to the mount point."""
        return [Upgrade("/games/{game_id}/ws", self.upgrade, error_response)]

    add_not_found(app, "/", "no such API route", branch=True)

    def _bot_level(self, body):
        """The bot level asked for with ``"opponent": "bot"`` (and an optional ``level``), or None."""
        opponent, level = body.opponent, body.level
        if opponent is None:
            if level is not None:
                raise APIError(400, "bad_field", "'level' goes with \"opponent\": \"bot\"")
            return None
        if opponent != "bot":
            raise APIError(400, "bad_field", "'opponent' must be \"bot\" (or absent, for a human opponent)")
        bots = self.lobby.bots
        if bots is None:
            raise APIError(404, "bots_off", "this server has no bots")
        if level is not None and level not in bots.levels:
            raise APIError(400, "bad_field", f"'level' must be one of {', '.join(bots.levels)}")
        return bots.check_level(level)

    def _seat_answer(self, request, seated):
        answer = {"game_id": seated.game_id, "player_token": seated.token}
        answer.update(self.urls.game_urls(request, seated.game_id, seated.token, seated.public_url))
        return answer


def _flag(request, name: bytes) -> bool:
    values = request.args.get(name) or [b""]
    return values[0].lower() in (b"true", b"1", b"yes")
