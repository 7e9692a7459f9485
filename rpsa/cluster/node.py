"""One node of a cluster: its parts, built together, and how they are told about the node's games.

:class:`Cluster` builds the directory, the match claims, the heartbeat, the bus and its
subscriber for one node, and the two faces the routes use (:attr:`Cluster.games`,
:attr:`Cluster.matches`).  Its services run under the Redis connection
(:meth:`Cluster.services`), so they stop before it closes: the subscriber first, the
heartbeat last (it leaves the cluster).  It is the heartbeat's
:class:`~rpsa.cluster.nodes.ClusterObserver` (a node that (re)joins republishes all it
holds) and its :class:`~rpsa.cluster.nodes.NodeLoad` (the lobby's and launcher's counts).
"""

from __future__ import annotations

from typing import Iterator, List

from twisted.logger import Logger

from rpsa.cluster.bus import Bus, Operations
from rpsa.cluster.directory import GameDirectory
from rpsa.cluster.figures import ClusterFigures
from rpsa.cluster.games import ClusterGames, LocalGames
from rpsa.cluster.matches import ClusterMatches, LocalMatches, MatchClaims, MatchRequests
from rpsa.cluster.nodes import ClusterObserver, Heartbeat, NodeLoad, new_incarnation
from rpsa.redis.pubsub import Subscriber
from rpsa.redis.schema import Keys

log = Logger()

DELETE_EXTRA = 15.0  # seconds a forwarded match DELETE waits beyond --forward-timeout (TERM, then KILL)


def records(reactor, connection, prefix: str, name: str, incarnation: str = None):
    """This node's :class:`~rpsa.cluster.directory.GameDirectory` and :class:`~rpsa.cluster.matches.MatchClaims`.

    Built before the lobby and the launcher, which tell them about their games
    (the directory is the lobby's observer) and matches (the claims are a
    launcher's observer); both carry one new incarnation (``incarnation``: tests).
    """
    incarnation = incarnation or new_incarnation()
    return (GameDirectory(reactor, connection, prefix, name, incarnation),
            MatchClaims(connection, prefix, name, incarnation))


class Cluster(ClusterObserver, NodeLoad):
    """The cluster side of one node.

    :param reactor: the reactor.
    :param connection: the process's :class:`~rpsa.redis.connection.RedisConnection`.
    :param prefix: the key prefix (``--redis-key-prefix``).
    :param name: this node's name (``--node-name``).
    :param public_url: this node's ``--public-url``.
    :param lobby: the :class:`~rpsa.lobby.games.Lobby` (its observer: ``directory``).
    :param statuses: maps a lobby error to its :class:`~rpsa.web.APIError` (``rpsa.lobby.api.lobby_api_error``).
    :param directory: the node's :class:`~rpsa.cluster.directory.GameDirectory` (see :func:`records`).
    :param claims: the node's :class:`~rpsa.cluster.matches.MatchClaims` (see :func:`records`).
    :param local_matches: this node's :class:`~rpsa.cluster.matches.LocalMatches`
        (:class:`rpsa.matches.api.MatchService`).
    :param draining: the drain state (``active``).
    :param match_public_url: ``--match-public-url`` (or ``""``).
    :param max_matches: ``--max-matches`` (``0`` without a launcher).
    :param forward_timeout: ``--forward-timeout``.
    :param subscriber_endpoint: the endpoint of the subscriber's link (tests; default: the URL's).
    """

    def __init__(self, reactor, connection, prefix: str, name: str, public_url: str, lobby, statuses, directory,
                 claims, local_matches: LocalMatches = None, draining=None, match_public_url: str = "",
                 max_matches: int = 0, forward_timeout: float = 5.0, subscriber_endpoint=None):
        self.name = name
        self.lobby = lobby
        self._draining = draining
        self.local_matches = local_matches if local_matches is not None else LocalMatches()
        self.incarnation = directory.incarnation
        self.connection = connection
        keys = Keys(prefix)
        self.figures = ClusterFigures()
        self.directory = directory
        self.claims = claims
        self.heartbeat = Heartbeat(reactor, connection, prefix, name, self.incarnation, public_url,
                                   match_public_url=match_public_url or "", max_games=lobby.max_games,
                                   max_matches=max_matches, load=self, observer=self)
        local_games = LocalGames(lobby, self.directory, name, public_url, statuses, draining=draining)
        match_requests = MatchRequests(self.local_matches, self.claims)
        operations = {op: local_games for op in ("create", "join", "remove", "remove_player")}
        operations.update({op: match_requests for op in ("match_put", "match_get", "match_delete")})
        self.bus = Bus(reactor, connection, keys, name, Operations(operations), observer=self.figures)
        kwargs = {"endpoint": subscriber_endpoint} if subscriber_endpoint is not None else {}
        self.subscriber = Subscriber(reactor, connection.url, [keys.bus(name)], self.bus.message,
                                     client_name=f"rpsa-bus-{name}", **kwargs)
        self.games = ClusterGames(local_games, self.directory, self.heartbeat, self.bus, forward_timeout,
                                  reactor=reactor, relays=self.figures)
        self.matches = ClusterMatches(match_requests, self.heartbeat, self.bus, forward_timeout,
                                      delete_timeout=forward_timeout + DELETE_EXTRA)

    def services(self) -> List:
        """The services to run under the Redis connection, in start order."""
        return [self.heartbeat, self.directory, self.bus, self.subscriber]

    @property
    def healthy(self) -> bool:
        """False while Redis is away (the node serves what it holds; ``/healthz`` says ``degraded``)."""
        return self.connection.connected

    def metric_families(self) -> Iterator:
        """The cluster's figures for ``/metrics`` (the Redis connection's are the connection's)."""
        return self.figures.metric_families(self.heartbeat.view)

    # -- NodeLoad --------------------------------------------------------------------------

    def games_held(self) -> int:
        return len(self.lobby.games)

    def matches_running(self) -> int:
        return self.local_matches.count()

    def is_draining(self) -> bool:
        return self._draining is not None and self._draining.active

    # -- ClusterObserver -------------------------------------------------------------------

    def joined(self) -> None:
        self.directory.republish(self.lobby.list())
        for match_id in self.local_matches.live_ids():
            d = self.claims.claim(match_id)
            d.addCallback(self._reclaimed, match_id)
            d.addErrback(lambda f: None)  # Redis away again: the next heartbeat republishes

    def _reclaimed(self, owner, match_id: str) -> None:
        if owner is not None:
            log.warn("cluster: match {match_id} of node {node} is also claimed by node {owner} (taken while this "
                     "node was cut off from Redis)", match_id=match_id, node=self.name, owner=owner)
