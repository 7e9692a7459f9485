"""Matches in a cluster: an id claimed once cluster-wide, placed on the node with the most free match slots.

``PUT /api/match`` on any node finds the match's owner (a live claim in the directory) and
carries the request there; a new match goes to the live node with the most free slots
under ``--max-matches``, which claims the id before it launches (a claim another node won
in the meantime sends the request on to that node).  ``GET`` and ``DELETE
/api/match/{id}`` are carried to the owner the same way.  A match's notifications and
stream entries come from its owner alone, so each is written once.

:class:`MatchClaims` is the directory side (keys in :mod:`rpsa.redis.schema`);
:class:`LocalMatches` is what a node's match API does for itself (implemented by
:class:`rpsa.matches.api.MatchAPI`); :class:`ClusterMatches` is what the routes call.
"""

from __future__ import annotations

from typing import Any, Dict, List

from twisted.internet import defer
from twisted.logger import Logger

from rpsa.cluster import scripts
from rpsa.cluster.bus import RequestHandler
from rpsa.cluster.errors import DirectoryUnavailable, guarded
from rpsa.matches.launcher import MatchObserver
from rpsa.web import APIError

log = Logger()

ENDED_CLAIM_TTL = 3600.0  # seconds an ended match's claim stays (GET on any node shows its result)
MAX_HOPS = 2


class MatchClaims(MatchObserver):
    """Match ids claimed in the directory by this node; a launcher's observer (an ended match marks its claim).

    :param connection: the :class:`~rpsa.redis.connection.RedisConnection`.
    :param prefix: the key prefix.
    :param node: this node's name.
    :param incarnation: this process's incarnation.
    """

    def __init__(self, connection, prefix: str, node: str, incarnation: str):
        self._connection = connection
        self._prefix = prefix
        self.node = node
        self.incarnation = incarnation

    @property
    def available(self) -> bool:
        return self._connection.connected

    def _run(self, script, *args) -> defer.Deferred:
        return guarded(self._connection, lambda: script.run(self._connection, self._prefix, *args))

    def claim(self, match_id: str) -> defer.Deferred:
        """Claim ``match_id`` (again) for this node: fires with None, or the live node that holds it."""
        d = self._run(scripts.CLAIM_MATCH, match_id, self.node, self.incarnation)
        return d.addCallback(lambda owner: owner or None)

    def owner(self, match_id: str) -> defer.Deferred:
        """The live node holding ``match_id``, or None."""
        return self._run(scripts.MATCH_OWNER, match_id)

    def match_ended(self, record) -> None:
        """A match of this node ended: its claim stays an hour (GET shows its result anywhere), then the id is free."""
        self.ended(record.match_id)

    def ended(self, match_id: str, keep: bool = True) -> None:
        """The match ended (``keep``: its claim stays an hour) or never launched (the claim goes now)."""
        ttl = str(int(ENDED_CLAIM_TTL * 1000)) if keep else "0"
        d = self._run(scripts.END_MATCH, match_id, self.node, self.incarnation, ttl)
        d.addErrback(lambda f: log.warn("cluster: could not mark match {match_id} ended ({reason})",
                                        match_id=match_id, reason=f.getErrorMessage()))


class LocalMatches:
    """What this node's match API does for its own matches (no HTTP request needed)."""

    def count(self) -> int:
        """Match children running here now (warm ones included)."""
        return 0

    def live_ids(self) -> List[str]:
        """The ids of the matches live here (to claim them again after an outage)."""
        return []

    def put(self, wanted: Dict[str, Any], request=None) -> defer.Deferred:
        """Start or find the match ``wanted`` (a parsed PUT body): fires with ``(status, answer)``."""
        raise APIError(404, "not_found", "the match launcher is off")

    def get(self, match_id: str) -> Dict[str, Any]:
        raise APIError(404, "match_not_found", f"no match {match_id!r}")

    def delete(self, match_id: str) -> defer.Deferred:
        raise APIError(404, "match_not_found", f"no match {match_id!r}")


class MatchRequests(RequestHandler):
    """This node's part: claim a match id for this node, then start or find the match here.

    It does the bus's ``match_*`` requests from other nodes, and this node's own.

    :param local: this node's :class:`LocalMatches`.
    :param claims: the :class:`MatchClaims`.
    """

    def __init__(self, local: LocalMatches, claims: MatchClaims):
        self.local = local
        self.claims = claims
        self.node = claims.node

    @defer.inlineCallbacks
    def put_here(self, wanted: Dict[str, Any], request=None):
        """Claim the id, then start or find the match here: ``{"status", "answer"}``, or ``{"elsewhere": node}``."""
        elsewhere = yield self.claims.claim(wanted["match_id"])
        if elsewhere is not None:
            return {"elsewhere": elsewhere}  # another request placed it first
        try:
            status, answer = yield self.local.put(wanted, request)
        except APIError as e:
            if e.code not in ("match_exists", "match_ending"):
                self.claims.ended(wanted["match_id"], keep=False)  # never launched here: the id is free
            raise
        return {"status": status, "answer": answer}

    def handle_request(self, op: str, args: Dict[str, Any], sender: str):
        log.info("cluster: {op} for node {node}", op=op, node=sender, owner=self.node,
                 match_id=args.get("match_id") or (args.get("wanted") or {}).get("match_id"))
        if op == "match_put":
            return self.put_here(args["wanted"])
        if op == "match_get":
            return self.local.get(args["match_id"])
        if op == "match_delete":
            return self.local.delete(args["match_id"])
        return super().handle_request(op, args, sender)


class ClusterMatches:
    """The match routes of a clustered node: each carried to the match's node.

    :param here: this node's :class:`MatchRequests`.
    :param nodes: the :class:`~rpsa.cluster.nodes.Heartbeat` (placement).
    :param bus: the :class:`~rpsa.cluster.bus.Bus`.
    :param forward_timeout: seconds a forwarded request waits (``--forward-timeout``).
    :param delete_timeout: seconds a forwarded DELETE waits (stopping a child takes time itself).
    """

    def __init__(self, here: MatchRequests, nodes, bus, forward_timeout: float = 5.0, delete_timeout: float = 20.0):
        self.here = here
        self.local = here.local
        self.claims = here.claims
        self.nodes = nodes
        self.bus = bus
        self.node = here.node
        self.forward_timeout = forward_timeout
        self.delete_timeout = delete_timeout

    # -- the routes --------------------------------------------------------------------------

    @defer.inlineCallbacks
    def put(self, wanted: Dict[str, Any], request=None):
        """``PUT /api/match`` (``wanted``: the parsed body): fires with ``(status, answer)``."""
        self._available()
        match_id = wanted["match_id"]
        owner = yield self.claims.owner(match_id)
        if owner is None:
            targets = self.nodes.place("matches")
            owner = targets[0].name if targets else self.node  # none has room: this node says why
        for _ in range(MAX_HOPS):
            if owner == self.node:
                result = yield self.here.put_here(wanted, request)
            else:
                result = yield self._forward(owner, "match_put", {"wanted": wanted}, match_id, self.forward_timeout)
            if "elsewhere" not in result:
                return result["status"], result["answer"]
            owner = result["elsewhere"]
        raise APIError(409, "match_exists", f"match {match_id} is being placed by another request; retry")

    @defer.inlineCallbacks
    def get(self, match_id: str):
        owner = yield self._owner(match_id)
        if owner == self.node:
            return self.local.get(match_id)
        return (yield self._forward(owner, "match_get", {"match_id": match_id}, match_id, self.forward_timeout))

    @defer.inlineCallbacks
    def delete(self, match_id: str):
        owner = yield self._owner(match_id)
        if owner == self.node:
            return (yield self.local.delete(match_id))
        return (yield self._forward(owner, "match_delete", {"match_id": match_id}, match_id, self.delete_timeout))

    # -- internals -------------------------------------------------------------------------

    def _available(self) -> None:
        if not self.claims.available:
            raise DirectoryUnavailable()

    @defer.inlineCallbacks
    def _owner(self, match_id: str):
        self._available()
        owner = yield self.claims.owner(match_id)
        if owner is None:
            raise APIError(404, "match_not_found", f"no match {match_id!r}")
        return owner

    def _forward(self, owner: str, op: str, args: Dict[str, Any], match_id: str, timeout: float):
        log.info("cluster: forwarding {op} of match {match_id} to its node", op=op, match_id=match_id,
                 node=self.node, owner=owner)
        return self.bus.request(owner, op, args, timeout)

