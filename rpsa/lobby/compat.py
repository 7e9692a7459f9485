"""The original Varcade server's routes, so its matchmaker and Phaser client work unchanged.

``POST /create_game``, ``/join_game``, ``/remove_game``, ``/remove_player``,
``GET /active_games`` with the original bodies and answers (errors are
``{"message"}`` with 400 or 404), and WebSocket upgrades at
``/?game_token=T&user_id=U``.  The ``gameToken`` handed out is the player's own
seat token; with ``--compat-shared-token`` it is the game's token (the host's),
answered to both players, the handshake's ``user_id`` choosing the seat.  A game
created here lingers after GAME_COMPLETE: its sockets stay open, quiet, until the
clients close them or ``--compat-linger`` passes (the original client takes any
close for the host vanishing).  Mounted at ``/``: it answers whatever no other API
routes.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet import defer

from rpsa.contract.bodies import CompatGame, CompatRemoveGame, CompatRemovePlayer
from rpsa.edge import Upgrade
from rpsa.lobby import games as lobby_errors
from rpsa.lobby.requests import LobbyRequests
from rpsa.play import wire
from rpsa.play.websocket import make_resource
from rpsa.web import (
    APIError,
    add_not_found,
    json_response,
    message_response,
    new_app,
    read_body,
    require_upgrade,
    requires_key,
)


def _body(request, kind):
    """The request's JSON body as a ``kind`` (the original's clients may send any content type)."""
    return read_body(request, kind, json_content_type=False)


def _relayed(relay):
    """``relay`` (another node of the cluster holds the game: it checks the token), or APIError 403 if no node does."""
    if relay is None:
        raise _original(403, "unknown game_token")
    return relay


def _original(status: int, message: str) -> APIError:
    return APIError(status, "original_error", message)


def _answer(call, answer, refused):
    """``answer(call())``, or a Deferred of it when ``call`` answers later.  An error of ``call`` for which
    ``refused(error)`` gives an APIError is raised as that APIError; any other (``refused`` gives None) as it is."""
    try:
        result = call()
    except Exception as e:
        error = refused(e)
        if error is None:
            raise
        raise error from None
    if not isinstance(result, defer.Deferred):
        return answer(result)

    def translate(failure):
        error = refused(failure.value)
        if error is None:
            return failure
        raise error

    return result.addCallbacks(answer, translate)


class CompatAPI:
    """The original server's HTTP and WebSocket routes over the same lobby.

    ``lobby``: the :class:`~rpsa.lobby.games.Lobby`; ``access``: the
    :class:`~rpsa.web.AccessPolicy` (API key); ``shared_token``: one token per
    game, as the original (``--compat-shared-token``); ``linger``: seconds a
    finished game's sockets may stay open (``--compat-linger``); ``games``:
    what the routes ask of the lobby (see :class:`~rpsa.lobby.api.LobbyAPI`).
    """

    app = new_app(render=message_response)

    def __init__(self, lobby, access, shared_token: bool = False, linger: float = 600.0, games=None):
        self.lobby = lobby
        self.access = access
        self.shared_token = shared_token
        self.linger = linger
        self.games = games if games is not None else LobbyRequests(lobby)

    def resource(self):
        """The Twisted Web resource serving these routes."""
        return self.app.resource()

    # create_game and join_game are also served past Klein (rpsa.web.Endpoint, by the root's
    # shortcuts): plain functions, a Deferred only when the lobby answers later (a cluster's).

    @app.route("/create_game", methods=["POST"])
    @requires_key
    def create_game(self, request):
        body = _body(request, CompatGame)
        game_id = body.gameId

        def refused(error: Exception) -> Optional[APIError]:
            if isinstance(error, lobby_errors.GameExists):
                return _original(400, f"Game {game_id} already exists")
            if isinstance(error, (lobby_errors.LobbyFull, lobby_errors.Draining)):
                return _original(503, error.message)
            return None

        return _answer(lambda: self.games.create(body.userId, body.username, game_id, linger=self.linger,
                                                 shared_token=self.shared_token),
                       lambda seated: json_response(request, {"gameToken": seated.token}), refused)

    @app.route("/join_game", methods=["POST"])
    @requires_key
    def join_game(self, request):
        body = _body(request, CompatGame)
        game_id = body.gameId

        def refused(error: Exception) -> Optional[APIError]:
            if isinstance(error, lobby_errors.NoSuchGame):
                return _original(400, f"Game {game_id} does not exist")
            if isinstance(error, (lobby_errors.SeatsFull, lobby_errors.AlreadySeated)):
                return _original(400, f"Game {game_id} is full")
            if isinstance(error, lobby_errors.Draining):
                return _original(503, error.message)
            return None

        return _answer(lambda: self.games.join(game_id, body.userId, body.username),
                       lambda seated: json_response(request, {"gameToken": seated.host_token or seated.token}),
                       refused)

    @app.route("/remove_game", methods=["POST"])
    @requires_key
    @defer.inlineCallbacks
    def remove_game(self, request):
        game_id = _body(request, CompatRemoveGame).gameId
        try:
            yield self.games.remove(game_id, wire.GAME_REMOVED)
        except lobby_errors.NoSuchGame:
            pass  # the original answers 200 null either way
        return json_response(request, None)

    @app.route("/remove_player", methods=["POST"])
    @requires_key
    @defer.inlineCallbacks
    def remove_player(self, request):
        body = _body(request, CompatRemovePlayer)
        game_id, user_id = body.gameId, body.userId
        try:
            connected = yield self.games.remove_player(game_id, user_id)
        except lobby_errors.NoSuchGame:
            raise _original(400, f"Game {game_id} does not exist") from None
        except lobby_errors.HostCannotBeRemoved:
            raise _original(400, "Cannot remove the host") from None
        except lobby_errors.NoSuchPlayer:
            raise _original(404, f"Player {user_id} not found") from None
        return json_response(request, {"playerRemoved": True, "connectionRemoved": connected})

    @app.route("/active_games", methods=["GET"])
    @requires_key
    @defer.inlineCallbacks
    def active_games(self, request):
        return json_response(request, [game["game_id"] for game in (yield self.games.list())])

    @app.route("/", methods=["GET"])
    def websocket(self, request):
        # Upgrade requests are served by upgrade() straight from the edge
        # (rpsa.edge.RequestGate); what reaches this route is not one.
        def upgraded(resource):
            require_upgrade(request)
            return resource

        resource = self.upgrade(request)
        if isinstance(resource, defer.Deferred):
            return resource.addCallback(upgraded)
        return upgraded(resource)

    def upgrades(self):
        """The original WebSocket URL, for the edge (:class:`rpsa.edge.Upgrade`)."""
        return [Upgrade("/", self.upgrade, message_response)]

    def upgrade(self, request):
        """The resource upgrading ``request`` to the WebSocket its ``game_token`` opens; it must belong to
        ``user_id`` (no API key: the token proves the seat).  Raises APIError 403 or 404.  In a cluster,
        a token another node holds gives a Deferred firing with the resource relaying to that node."""
        token = (request.args.get(b"game_token") or [b""])[0].decode("utf-8", "replace")
        found = self.lobby.find_token(token) if token else None
        if found is None:
            if not token:
                raise _original(404, "not found")
            relay = self.games.relay(request, token)
            if isinstance(relay, defer.Deferred):
                return relay.addCallback(_relayed)
            return _relayed(relay)
        session, seat = found
        user_id = (request.args.get(b"user_id") or [b""])[0].decode("utf-8", "replace")
        if session.shared_token:
            seat = session.seat_for_token(token, user_id)
            if seat is None:
                raise _original(403, "this user_id has no seat in the game")
        if user_id != seat.user_id:
            raise _original(403, "the game_token does not belong to this user_id")
        return make_resource(self.lobby.factory(session.game_id))

    add_not_found(app, "/<path:rest>", "no such route")
