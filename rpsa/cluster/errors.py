"""The errors only a cluster has, as :class:`~rpsa.web.APIError` s every API answers in its own style."""

from __future__ import annotations

from twisted.internet import defer

from rpsa.redis.connection import RedisUnavailable
from rpsa.web import APIError


class DirectoryUnavailable(APIError):
    """Redis is unreachable: what reads or changes the cluster's directory cannot be done (503); ``message`` says so."""

    def __init__(self, message: str = "the cluster's directory (Redis) is unreachable; games this node holds "
                                      "play on, retry in a few seconds"):
        super().__init__(503, "directory_unavailable", message)


class OwnerUnreachable(APIError):
    """The node that owns the game or match did not answer a forwarded request in time (504).

    ``owner``: that node's name; ``seconds``: how long it was waited for.
    """

    def __init__(self, owner: str, seconds: float):
        super().__init__(504, "owner_unreachable",
                         f"node {owner} owns it and did not answer within {seconds:g}s; retry later")
        self.owner = owner


class RemoteError(APIError):
    """The owner answered a forwarded request with an error: its status, code and message."""


def guarded(connection, start) -> defer.Deferred:
    """``start()`` (a Deferred of a Redis command), failing with :class:`DirectoryUnavailable` when Redis is away.

    It fails at once, without sending anything, while ``connection`` is down.
    """
    if not connection.connected:
        return defer.fail(DirectoryUnavailable())

    def unavailable(failure):
        failure.trap(RedisUnavailable)
        raise DirectoryUnavailable()

    return start().addErrback(unavailable)
