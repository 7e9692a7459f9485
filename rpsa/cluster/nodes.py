"""Node liveness and placement: each node's heartbeat in Redis, and the live nodes as this one sees them.

:class:`Heartbeat` writes this node's record (``PREFIX node:NAME``, see
:mod:`rpsa.redis.schema`) every ``interval`` seconds with a TTL of ``ttl``: a node that stops
writing (killed, frozen, cut off from Redis) drops out of every other node's view within
``ttl`` seconds, and the first heartbeat of any node after that deletes its entries, so
its game and match ids become free.  Each heartbeat also reads back every live node's
record: :attr:`Heartbeat.view` is the cluster as of the last heartbeat (at most
``interval`` seconds old while Redis answers), used for placement (:meth:`Heartbeat.place`)
and for the owners' public URLs.

When a heartbeat finds this node's record missing or held by another incarnation (the
first heartbeat, Redis restarted empty, or this node was taken for dead during an outage)
it tells its :class:`ClusterObserver`, which republishes everything the node holds.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger

from rpsa.cluster import scripts
from rpsa.redis.connection import RedisUnavailable

log = Logger()

INTERVAL = 2.0  # seconds between heartbeats
TTL = 5.0  # seconds a node's record outlives its last heartbeat: a dead node is gone after this
STOP_TIMEOUT = 2.0  # seconds leaving the cluster may take on stop


@dataclass(frozen=True)
class NodeInfo:
    """One node's record, as its last heartbeat wrote it."""

    name: str
    incarnation: str
    public_url: str
    match_public_url: str = ""
    games: int = 0
    max_games: int = 0
    matches: int = 0
    max_matches: int = 0
    draining: bool = False
    started_at: float = 0.0

    @property
    def free_games(self) -> int:
        return 0 if self.draining else max(self.max_games - self.games, 0)

    @property
    def free_matches(self) -> int:
        return 0 if self.draining else max(self.max_matches - self.matches, 0)

    def fields(self) -> List[str]:
        """The record's field/value pairs, as written to Redis."""
        return ["incarnation", self.incarnation, "public_url", self.public_url,
                "match_public_url", self.match_public_url, "games", str(self.games),
                "max_games", str(self.max_games), "matches", str(self.matches),
                "max_matches", str(self.max_matches), "draining", "1" if self.draining else "0",
                "started_at", repr(self.started_at)]

    @classmethod
    def parse(cls, name: str, flat: List[str]) -> Optional["NodeInfo"]:
        """The record from Redis's field/value list, or None when it is not one."""
        f = dict(zip(flat[::2], flat[1::2]))
        try:
            return cls(name, f["incarnation"], f["public_url"], f.get("match_public_url", ""),
                       int(f.get("games", 0)), int(f.get("max_games", 0)), int(f.get("matches", 0)),
                       int(f.get("max_matches", 0)), f.get("draining") == "1", float(f.get("started_at", 0)))
        except (KeyError, ValueError):
            return None


class NodeLoad:
    """What this node reports in its heartbeat; the defaults describe an idle node."""

    def games_held(self) -> int:
        """Games held now."""
        return 0

    def matches_running(self) -> int:
        """Match children running now."""
        return 0

    def is_draining(self) -> bool:
        """True once the node drains (it takes nothing new)."""
        return False


class ClusterObserver:
    """Hears what the heartbeat learns; every method is a no-op here."""

    def joined(self) -> None:
        """This node's record was missing (first heartbeat, Redis restarted, taken for dead): republish."""

    def view_changed(self, view: Dict[str, NodeInfo]) -> None:
        """A heartbeat read the live nodes (every heartbeat)."""


def new_incarnation() -> str:
    """A random id for this process's life in the cluster."""
    return uuid.uuid4().hex[:16]


class Heartbeat(service.Service):
    """This node's heartbeat, and the view of the live nodes.

    :param reactor: the reactor (times the heartbeats).
    :param connection: the :class:`~rpsa.redis.connection.RedisConnection`.
    :param prefix: the key prefix (``--redis-key-prefix``).
    :param name: this node's name (``--node-name``).
    :param incarnation: this process's incarnation (:func:`new_incarnation`).
    :param public_url: the base URL clients reach this node at (``--public-url``).
    :param match_public_url: the template of launched matches' URLs (``--match-public-url``), or ``""``.
    :param max_games: ``--max-games``.
    :param max_matches: ``--max-matches`` (``0``: no match launcher).
    :param load: a :class:`NodeLoad` (the node's current games, matches, draining).
    :param observer: a :class:`ClusterObserver`.
    :param interval: seconds between heartbeats.
    :param ttl: seconds the record lives after a heartbeat.
    :param clock: a callable returning the Unix time (``started_at``).
    """

    def __init__(self, reactor, connection, prefix: str, name: str, incarnation: str, public_url: str,
                 match_public_url: str = "", max_games: int = 0, max_matches: int = 0, load: NodeLoad = None,
                 observer: ClusterObserver = None, interval: float = INTERVAL, ttl: float = TTL,
                 clock=time.time):
        self._reactor = reactor
        self._connection = connection
        self._prefix = prefix
        self.name = name
        self.incarnation = incarnation
        self.public_url = public_url
        self.match_public_url = match_public_url
        self.max_games = max_games
        self.max_matches = max_matches
        self._load = load if load is not None else NodeLoad()
        self._observer = observer if observer is not None else ClusterObserver()
        self.interval = interval
        self.ttl = ttl
        self._started_at = clock()
        self.view: Dict[str, NodeInfo] = {}
        self.beats = 0  # heartbeats Redis took
        self._timer = None
        self._beating: Optional[defer.Deferred] = None
        self._again = False  # a beat was asked for while one was in flight
        self._waiting: Optional[defer.Deferred] = None

    # -- the record ------------------------------------------------------------------

    def record(self) -> NodeInfo:
        """This node's record as the next heartbeat writes it."""
        return NodeInfo(self.name, self.incarnation, self.public_url, self.match_public_url,
                        self._load.games_held(), self.max_games, self._load.matches_running(), self.max_matches,
                        self._load.is_draining(), self._started_at)

    # -- the service -----------------------------------------------------------------

    def startService(self):
        super().startService()
        self.beat_now()

    def stopService(self):
        super().stopService()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._waiting is not None:
            self._waiting.cancel()
        if not self._connection.connected:
            return defer.succeed(None)
        d = scripts.LEAVE.run(self._connection, self._prefix, self.name, self.incarnation)
        d.addTimeout(STOP_TIMEOUT, self._reactor)
        d.addCallback(lambda _: log.info("cluster: node {node} left the cluster", node=self.name))
        d.addErrback(lambda f: log.warn("cluster: node {node} could not leave the cluster cleanly ({reason}); "
                                        "the others drop it within {ttl}s", node=self.name,
                                        reason=f.getErrorMessage(), ttl=self.ttl))
        return d

    def beat_now(self) -> None:
        """Write the heartbeat now (at once on a change that others must see soon, such as draining)."""
        if not self.running:
            return
        if self._beating is not None:
            self._again = True
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if not self._connection.connected:
            if self._waiting is None:
                self._waiting = self._connection.when_connected()
                self._waiting.addCallbacks(self._reconnected, lambda f: None)
            return
        record = self.record()
        d = scripts.HEARTBEAT.run(self._connection, self._prefix, self.name, self.incarnation,
                                  str(int(self.ttl * 1000)), *record.fields())
        self._beating = d
        d.addCallbacks(self._beaten, self._failed)
        d.addErrback(lambda f: log.failure("cluster: handling the heartbeat of {node} failed", f, node=self.name))
        d.addBoth(self._next)

    def _reconnected(self, _) -> None:
        self._waiting = None
        self.beat_now()

    def _beaten(self, reply) -> None:
        was_ours, flat = reply
        self.beats += 1
        view = {}
        for name, fields in zip(flat[::2], flat[1::2]):
            info = NodeInfo.parse(name, fields)
            if info is not None:
                view[name] = info
        self.view = view
        if not int(was_ours):
            log.info("cluster: node {node} joined the cluster ({count} node(s) live)", node=self.name,
                     count=len(view))
            self._observer.joined()
        self._observer.view_changed(view)

    def _failed(self, failure) -> None:
        if not failure.check(RedisUnavailable):
            log.warn("cluster: heartbeat of {node} failed ({reason})", node=self.name,
                     reason=failure.getErrorMessage())

    def _next(self, _) -> None:
        self._beating = None
        if not self.running:
            return
        if self._again:
            self._again = False
            self.beat_now()
            return
        self._timer = self._reactor.callLater(self.interval, self.beat_now)

    # -- the view ----------------------------------------------------------------------

    def live(self, name: str) -> Optional[NodeInfo]:
        """The live node ``name`` as of the last heartbeat (this node's record is always current)."""
        if name == self.name:
            return self.record()
        return self.view.get(name)

    def place(self, kind: str = "games", exclude: Iterable[str] = ()) -> List[NodeInfo]:
        """The live nodes with room for one more game (``kind`` ``"games"``) or match (``"matches"``), most room first.

        This node counts with its current load; the others as of the last heartbeat.  Ties
        go to this node, then by name (so that every node places alike).
        """
        excluded = set(exclude)
        nodes = [self.record() if name == self.name else info for name, info in self.view.items()]
        if self.name not in self.view:
            nodes.append(self.record())
        free = (lambda n: n.free_games) if kind == "games" else (lambda n: n.free_matches)
        candidates = [n for n in nodes if n.name not in excluded and free(n) > 0]
        candidates.sort(key=lambda n: (-free(n), n.name != self.name, n.name))
        return candidates
