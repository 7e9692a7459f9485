"""The lobby of a cluster: create, join, remove and list games on any node, each game changed by its owner alone.

:class:`LocalGames` does, on the node that owns (or will own) a game, what the lobby
routes ask: it claims a new game's id in the directory before the lobby creates the game,
and it answers the bus's requests for the games of this node.  :class:`ClusterGames` is
what the HTTP APIs call on the node that received the request: it acts locally when this
node owns the game (or has room for a new one), and otherwise forwards the request to the
owner (or to the node with the most room) over the :class:`~rpsa.cluster.bus.Bus` and
answers with the owner's reply.  Both return Deferreds; errors are the lobby's own
(:class:`~rpsa.lobby.games.LobbyError`), whichever node raised them, or the cluster's
(:mod:`rpsa.cluster.errors`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict
from typing import Any, Dict, Optional

from twisted.internet import defer
from twisted.logger import Logger

from rpsa.cluster.bus import RequestHandler
from rpsa.cluster.errors import DirectoryUnavailable, RemoteError
from rpsa.cluster.relay import relay_resource
from rpsa.lobby import games as lobby_errors
from rpsa.lobby.requests import LobbyRequests, Seated
from rpsa.web import APIError

log = Logger()

MAX_PLACEMENT_TRIES = 3  # nodes a create is offered to when the receiving node has no room

# Every lobby error class by its code, to raise the owner's error again where the request came in.
_LOBBY_ERRORS = {cls.code: cls for cls in lobby_errors.LobbyError.__subclasses__()}


def lobby_error(error: RemoteError) -> Exception:
    """The owner's error as the lobby error it was (the APIs answer it in their own style), else as it is."""
    cls = _LOBBY_ERRORS.get(error.code)
    return cls(error.message) if cls is not None else error


class LocalGames(LobbyRequests, RequestHandler):
    """What this node does to its own lobby, for itself or for another node (a new game's id claimed first).

    :param lobby: the :class:`~rpsa.lobby.games.Lobby`.
    :param directory: the :class:`~rpsa.cluster.directory.GameDirectory`.
    :param node: this node's name.
    :param public_url: this node's ``--public-url``.
    :param statuses: maps a lobby error to its :class:`~rpsa.web.APIError` (``rpsa.lobby.api.lobby_api_error``).
    :param draining: an object whose ``active`` attribute is true while the node drains (the
        lobby's), or None: never.
    :param clock: a callable returning the Unix time (a claim's ``created_at``).
    """

    def __init__(self, lobby, directory, node: str, public_url: str, statuses, draining=None, clock=time.time):
        super().__init__(lobby)
        self._draining = draining
        self.directory = directory
        self.node = node
        self.public_url = public_url
        self._statuses = statuses
        self._clock = clock

    def refusal(self, game_id: Optional[str] = None) -> Optional[lobby_errors.LobbyError]:
        """Why a new game (``game_id``, if given) may not land here (draining, full, taken), or None."""
        if self._draining is not None and self._draining.active:
            return lobby_errors.Draining("the server is draining: no new games")
        if game_id is not None and game_id in self.lobby.games:
            return lobby_errors.GameExists(f"game {game_id!r} already exists")
        if len(self.lobby.games) >= self.lobby.max_games:
            return lobby_errors.LobbyFull(f"the server holds its maximum of {self.lobby.max_games} games")
        return None

    def has_room(self) -> bool:
        """Whether a new game may land here (not draining, under ``--max-games``)."""
        return self.refusal() is None

    def create(self, user_id: str, username: str, game_id: Optional[str] = None, rounds: int = 3,
               **extra) -> defer.Deferred:
        """Claim the id in the directory, then create the game here; fires with a :class:`Seated`."""
        refusal = self.refusal(game_id)
        if refusal is not None:
            return defer.fail(refusal)
        if game_id is None:
            game_id = secrets.token_urlsafe(9)
        d = self.directory.claim(game_id, self._clock())
        return d.addCallback(self._claimed, user_id, username, game_id, rounds, extra)

    def _claimed(self, owner: Optional[str], user_id: str, username: str, game_id: str, rounds: int,
                 extra: Dict[str, Any]) -> Seated:
        if owner is not None:
            raise lobby_errors.GameExists(f"game {game_id!r} already exists (on node {owner})")
        try:
            session, seat = self.lobby.create(user_id, username, game_id, rounds, **extra)
        except lobby_errors.LobbyError:
            self.directory.release(game_id)
            raise
        return self._seated(session, seat)

    # -- the bus ---------------------------------------------------------------------------

    def handle_request(self, op: str, args: Dict[str, Any], sender: str):
        handlers = {
            "create": lambda: self.create(args["user_id"], args["username"], args.get("game_id"),
                                          int(args.get("rounds", 3)), **_extra(args.get("extra") or {})),
            "join": lambda: self.join(args["game_id"], args["user_id"], args["username"]),
            "remove": lambda: self.remove(args["game_id"], int(args["code"])),
            "remove_player": lambda: self.remove_player(args["game_id"], args["user_id"]),
        }
        if op not in handlers:
            return super().handle_request(op, args, sender)
        log.info("cluster: {op} for node {node}", op=op, node=sender, owner=self.node, game_id=args.get("game_id"))
        d = defer.maybeDeferred(handlers[op])
        d.addCallback(lambda result: asdict(result) if isinstance(result, Seated) else result)
        d.addErrback(self._as_api_error)
        return d

    def _as_api_error(self, failure):
        failure.trap(lobby_errors.LobbyError, KeyError, TypeError, ValueError)
        if failure.check(lobby_errors.LobbyError):
            raise self._statuses(failure.value)
        raise APIError(400, "bad_request", f"malformed forwarded request: {failure.getErrorMessage()}")


class ClusterGames:
    """The lobby as the APIs of a clustered node see it: every method returns a Deferred.

    :param local: this node's :class:`LocalGames`.
    :param directory: the :class:`~rpsa.cluster.directory.GameDirectory`.
    :param nodes: the :class:`~rpsa.cluster.nodes.Heartbeat` (placement).
    :param bus: the :class:`~rpsa.cluster.bus.Bus`.
    :param forward_timeout: seconds a forwarded request waits for the owner (``--forward-timeout``).
    :param reactor: the reactor (relayed connections).
    :param relays: the :class:`~rpsa.cluster.relay.RelayObserver` of relayed connections.
    """

    def __init__(self, local: LocalGames, directory, nodes, bus, forward_timeout: float = 5.0, reactor=None,
                 relays=None):
        self._reactor = reactor
        self._relays = relays
        self.local = local
        self.lobby = local.lobby
        self.directory = directory
        self.nodes = nodes
        self.bus = bus
        self.node = local.node
        self.forward_timeout = forward_timeout

    def _available(self) -> None:
        if not self.directory.available:
            raise DirectoryUnavailable()

    def create(self, user_id: str, username: str, game_id: Optional[str] = None, rounds: int = 3,
               **extra) -> defer.Deferred:
        """A new game here, or on the live node with the most room; fires with a :class:`Seated`."""
        if not self.directory.available:
            return defer.fail(DirectoryUnavailable())
        if self.local.has_room() or (game_id is not None and game_id in self.lobby.games):
            return self.local.create(user_id, username, game_id, rounds, **extra)
        return self._create_elsewhere(user_id, username, game_id, rounds, extra)

    @defer.inlineCallbacks
    def _create_elsewhere(self, user_id, username, game_id, rounds, extra):
        args = {"user_id": user_id, "username": username, "game_id": game_id, "rounds": rounds, "extra": extra}
        for target in self.nodes.place("games", exclude={self.node})[:MAX_PLACEMENT_TRIES]:
            try:
                result = yield self._forward(target.name, "create", args, game_id)
            except (lobby_errors.LobbyFull, lobby_errors.Draining):
                continue  # it filled up or began draining since its last heartbeat
            return Seated(**result)
        raise self.local.refusal(game_id)  # this node's own reason (full, draining)

    def join(self, game_id: str, user_id: str, username: str) -> defer.Deferred:
        """Seat ``user_id`` in the game, on its owner; fires with a :class:`Seated`."""
        d = self._at_owner(game_id, "join", {"game_id": game_id, "user_id": user_id, "username": username},
                           self.local.join, game_id, user_id, username)
        return d.addCallback(lambda result: result if isinstance(result, Seated) else Seated(**result))

    def remove(self, game_id: str, code: int) -> defer.Deferred:
        """Remove the game (its sockets closed with ``code``), on its owner."""
        return self._at_owner(game_id, "remove", {"game_id": game_id, "code": code},
                              self.local.remove, game_id, code).addCallback(lambda _: None)

    def remove_player(self, game_id: str, user_id: str) -> defer.Deferred:
        """Remove player 2, on the game's owner; fires with True if their connection was open."""
        return self._at_owner(game_id, "remove_player", {"game_id": game_id, "user_id": user_id},
                              self.local.remove_player, game_id, user_id).addCallback(bool)

    @defer.inlineCallbacks
    def list(self, joinable_only: bool = False):
        """Every live game of the cluster (each with its ``node``), oldest first."""
        self._available()
        remote = yield self.directory.list(joinable_only, exclude=self.node)
        return sorted(self.local.list(joinable_only) + remote, key=lambda g: g["created_at"])

    @defer.inlineCallbacks
    def get(self, game_id: str):
        """The game's summary (with its ``node``), wherever it lives."""
        if game_id in self.lobby.games:
            return self.local.get(game_id)
        self._available()
        found = yield self.directory.get(game_id)
        if found is None or found[1] is None:
            raise lobby_errors.NoSuchGame(f"no game {game_id!r}")
        return found[1]

    @defer.inlineCallbacks
    def relay(self, request, token: str):
        """The resource relaying the WebSocket of ``request`` to the node holding ``token``'s seat, or None."""
        self._available()
        found = yield self.directory.token_game(token)
        owner = self.nodes.live(found[1]) if found is not None and found[1] != self.node else None
        if owner is None:
            return None
        return relay_resource(self._reactor, request, self.node, owner.name, owner.public_url, self._relays)

    # -- internals -------------------------------------------------------------------------

    def _at_owner(self, game_id: str, op: str, args: Dict[str, Any], here, *here_args) -> defer.Deferred:
        """``here(*here_args)`` if this node holds the game (no Redis round trip), else ``op`` at its owner."""
        if not self.directory.available:
            return defer.fail(DirectoryUnavailable())
        if game_id in self.lobby.games:
            return defer.maybeDeferred(here, *here_args)
        return self._owner(game_id).addCallback(
            lambda owner: here(*here_args) if owner == self.node else self._forward(owner, op, args, game_id))

    def _owner(self, game_id: str) -> defer.Deferred:
        def owner(found):
            if found is None:
                raise lobby_errors.NoSuchGame(f"no game {game_id!r}")
            return found[0]

        return self.directory.get(game_id).addCallback(owner)

    @defer.inlineCallbacks
    def _forward(self, owner: str, op: str, args: Dict[str, Any], game_id: Optional[str]):
        log.info("cluster: forwarding {op} of game {game_id} to its node", op=op, game_id=game_id,
                 node=self.node, owner=owner)
        try:
            result = yield self.bus.request(owner, op, args, self.forward_timeout)
        except RemoteError as e:
            raise lobby_error(e) from None
        except APIError as e:
            log.warn("cluster: {op} of game {game_id} forwarded to {owner} failed: {code}", op=op, game_id=game_id,
                     node=self.node, owner=owner, code=e.code)
            raise
        return result



EXTRA = ("bot_level", "linger", "shared_token")  # the lobby's create options a forwarded create carries


def _extra(given: Dict[str, Any]) -> Dict[str, Any]:
    return {name: given[name] for name in EXTRA if name in given}
