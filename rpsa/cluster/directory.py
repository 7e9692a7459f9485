"""The cluster's directory of games in Redis: claimed, mirrored on every change, listed, located.

A node claims a game's id before it creates the game (:meth:`GameDirectory.claim`; an id
live on another node is refused), then mirrors the game on every change: the lobby tells
:meth:`GameDirectory.changed` and :meth:`GameDirectory.removed`, which only mark the game;
the marked games are written together :data:`WRITE_DELAY` later, in one script call (so
a burst of changes to one game costs one write, and many games share a call).  A write that fails (Redis away)
keeps its marks and is sent again once the connection is back; after an outage long enough
for the node to be taken for dead, :meth:`GameDirectory.republish` writes everything the
node holds again and deletes what it no longer holds.

Reads (:meth:`GameDirectory.list`, :meth:`GameDirectory.get`, :meth:`GameDirectory.token_game`)
skip the entries of dead nodes.  Everything that needs Redis fails at once with
:class:`~rpsa.cluster.errors.DirectoryUnavailable` while it is away: nothing waits.
Keys and fields: :mod:`rpsa.redis.schema`; the scripts: :mod:`rpsa.cluster.scripts`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, Dict, Iterable, List, Optional, Tuple

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from rpsa.cluster import scripts
from rpsa.cluster.errors import DirectoryUnavailable, guarded
from rpsa.lobby.games import LobbyObserver
from rpsa.play import views

log = Logger()

BATCH = 200  # games per script call
# Seconds the changes wait to be written together: a game's quick succession of changes (a
# create and its join, two players readying) is written once, and many games share a call.
WRITE_DELAY = 0.05


@functools.lru_cache(maxsize=65536)
def token_hash(token: str) -> str:
    """The seat key's name part for ``token`` (tokens themselves never reach Redis); a game is written
    several times, its seats hashed once."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def game_values(session) -> List[str]:
    """A session's id and its values of :data:`~rpsa.cluster.scripts.GAME_FIELDS`, as written to Redis."""
    summary = views.summary(session)
    return [summary["game_id"], repr(float(summary["created_at"])), "1" if summary["joinable"] else "0",
            summary["state"], str(summary["rounds"]), json.dumps(summary["players"], separators=(",", ":")),
            str(summary["spectators"]), " ".join(token_hash(seat.token) for seat in session.seats)]


def listed_summary(game_id: str, values: List[str]) -> Dict[str, Any]:
    """A game's summary (as :func:`rpsa.play.views.summary` shows it) from its values of LISTED."""
    owner, state, rounds, players, spectators, joinable, created_at = values
    return {"game_id": game_id, "state": state, "rounds": int(rounds), "players": json.loads(players),
            "spectators": int(spectators), "joinable": joinable == "1", "created_at": _number(created_at),
            "node": owner}


def _number(text: str):
    value = float(text)
    return int(value) if value.is_integer() else value


class GameDirectory(service.Service, LobbyObserver):
    """The games of the cluster, as this node reads and writes them (a Service: it stops writing when stopped).

    It is the lobby's :class:`~rpsa.lobby.games.LobbyObserver`: every change of a game of
    this node marks it.

    :param reactor: the reactor (the writes of one turn go together at the next).
    :param connection: the :class:`~rpsa.redis.connection.RedisConnection`.
    :param prefix: the key prefix (``--redis-key-prefix``).
    :param node: this node's name.
    :param incarnation: this process's incarnation (:func:`~rpsa.cluster.nodes.new_incarnation`).
    :param delay: seconds changes wait to be written together (:data:`WRITE_DELAY`).
    """

    def __init__(self, reactor, connection, prefix: str, node: str, incarnation: str, delay: float = WRITE_DELAY):
        self._reactor = reactor
        self._connection = connection
        self._prefix = prefix
        self.node = node
        self.incarnation = incarnation
        self._delay = delay
        self._marked: Dict[str, Any] = {}  # game id -> session to write, or None to delete
        self._last_values: Dict[str, List[str]] = {}  # game id -> the values last written (a change that shows
        # nothing new in the directory, such as one player readying, is not written again)
        self._flush_call = None
        self._writing = False
        self._waiting: Optional[defer.Deferred] = None
        self.writes = 0  # script calls that wrote games
        self.conflicts = 0  # games another node held when this one wrote them

    @property
    def available(self) -> bool:
        return self._connection.connected

    def _run(self, script, *args) -> defer.Deferred:
        return guarded(self._connection, lambda: script.run(self._connection, self._prefix, *args))

    # -- claims --------------------------------------------------------------------------

    def claim(self, game_id: str, created_at: float) -> defer.Deferred:
        """Claim ``game_id`` for this node: fires with ``None``, or the name of the live node that holds it."""
        d = self._run(scripts.CLAIM_GAME, game_id, self.node, self.incarnation, repr(float(created_at)))
        return d.addCallback(lambda owner: owner or None)

    def release(self, game_id: str) -> None:
        """Give up a claimed id that no game came of (nothing waits for it)."""
        self.game_removed(game_id)

    # -- mirroring -----------------------------------------------------------------------

    def game_changed(self, session) -> None:
        """``session`` (a game this node holds) changed: it is written with the others after WRITE_DELAY."""
        self._mark(session.game_id, session)

    def game_removed(self, game_id: str) -> None:
        """The game ``game_id`` of this node is gone: its entry is deleted with the next write."""
        self._mark(game_id, None)

    def republish(self, sessions: Iterable) -> defer.Deferred:
        """Write every game this node holds, and delete its entries of games it no longer holds."""
        held = {session.game_id: session for session in sessions}
        d = guarded(self._connection,
                    lambda: self._connection.execute("SMEMBERS", f"{self._prefix}node-games:{self.node}"))

        def compare(listed):
            for game_id in set(listed or ()) - set(held):
                self._marked.setdefault(game_id, None)
            for game_id, session in held.items():
                self._marked[game_id] = session
            self._last_values.clear()  # everything again: Redis may have lost it
            log.info("cluster: republishing {count} game(s) of node {node}", count=len(held), node=self.node)
            self._schedule()

        d.addCallback(compare)
        d.addErrback(lambda f: f.trap(DirectoryUnavailable))  # the next heartbeat finds out again
        return d

    def _mark(self, game_id: str, session) -> None:
        self._marked[game_id] = session
        self._schedule()

    def _schedule(self) -> None:
        if self.running and self._flush_call is None and not self._writing and self._waiting is None:
            self._flush_call = self._reactor.callLater(self._delay, self.flush)

    def flush(self) -> defer.Deferred:
        """Write the marked games now (a batch at a time); fires once written or put back."""
        self._flush_call = None
        if self._writing or not self._marked:
            return defer.succeed(None)
        if not self._connection.connected:
            if self._waiting is None:
                self._waiting = self._connection.when_connected()
                self._waiting.addCallbacks(self._reconnected, lambda f: None)
            return defer.succeed(None)
        batch = list(self._marked.items())[:BATCH]
        for game_id, _ in batch:
            del self._marked[game_id]
        publish, remove = [], []
        for game_id, session in batch:
            if session is None:
                remove.append(game_id)
                self._last_values.pop(game_id, None)
                continue
            values = game_values(session)
            if self._last_values.get(game_id) != values:
                self._last_values[game_id] = values
                publish += values
        if not publish and not remove:  # nothing the directory shows has changed
            if self._marked:
                self._schedule()
            return defer.succeed(None)
        self._writing = True
        d = defer.succeed(None)
        if remove:
            d.addCallback(lambda _: self._run(scripts.REMOVE_GAMES, self.node, self.incarnation, *remove))
        if publish:
            d.addCallback(lambda _: self._run(scripts.PUBLISH_GAMES, self.node, self.incarnation, *publish))
            d.addCallback(self._published)
        d.addCallbacks(self._written, self._not_written, errbackArgs=(batch,))
        return d

    def _published(self, conflicts) -> None:
        for game_id in conflicts or ():
            self.conflicts += 1
            log.warn("cluster: game {game_id} of node {node} is also held by another live node (it was taken "
                     "while this node was cut off from Redis); the directory keeps the other", game_id=game_id,
                     node=self.node)

    def _written(self, _) -> None:
        self.writes += 1
        self._writing = False
        if self._marked:
            self._schedule()

    def _not_written(self, failure, batch) -> None:
        self._writing = False
        for game_id, session in batch:
            self._marked.setdefault(game_id, session)  # a newer mark wins
            self._last_values.pop(game_id, None)
        if not failure.check(DirectoryUnavailable):
            log.failure("cluster: writing {count} game(s) to the directory failed", failure, count=len(batch))
            self._flush_call = self._reactor.callLater(1.0, self.flush)
            return
        self._schedule()  # flush() waits for the connection

    def _reconnected(self, _) -> None:
        self._waiting = None
        self._schedule()

    @property
    def pending(self) -> int:
        """Games marked and not yet written."""
        return len(self._marked)

    def stopService(self):
        """Stop writing (the node leaves the cluster next; its entries go with it)."""
        super().stopService()
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None
        return defer.succeed(None)

    # -- reads ---------------------------------------------------------------------------

    def list(self, joinable_only: bool = False, exclude: str = "") -> defer.Deferred:
        """The summaries of the cluster's live games (each with its ``node``), oldest first; ``exclude``: a node left out."""
        d = self._run(scripts.LIST_GAMES, "joinable" if joinable_only else "games", exclude)

        def parse(flat):
            size = 1 + len(scripts.LISTED)
            return [listed_summary(flat[i], flat[i + 1:i + size]) for i in range(0, len(flat or ()), size)]

        return d.addCallback(parse)

    def get(self, game_id: str) -> defer.Deferred:
        """``(owner, summary or None)`` of the live game ``game_id`` (no summary while only claimed), or None."""
        d = self._run(scripts.GET_GAME, game_id)

        def parse(values) -> Optional[Tuple[str, Optional[Dict[str, Any]]]]:
            if not values:
                return None
            return values[0], (listed_summary(game_id, values) if values[1] else None)

        return d.addCallback(parse)

    def token_game(self, token: str) -> defer.Deferred:
        """``(game id, owner)`` of the live game whose seat ``token`` opens, or None."""
        d = self._run(scripts.TOKEN_GAME, token_hash(token))
        return d.addCallback(lambda found: tuple(found) if found else None)
