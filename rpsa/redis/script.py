"""A Lua script run by its SHA1 (``EVALSHA``), its text sent again when Redis has forgotten it.

Redis keeps the scripts it was sent in a cache that a restart (or ``SCRIPT FLUSH``)
empties; :meth:`Script.run` then gets ``NOSCRIPT`` and sends the script's text once with
``EVAL``, which caches it again.
"""

from __future__ import annotations

import hashlib

from rpsa.redis.connection import RedisReplyError


class Script:
    """One Lua script; ``source`` is its text."""

    def __init__(self, source: str):
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def run(self, connection, *args, keys=()):
        """Run it through ``connection`` with ``keys`` and ``args`` (strings); a Deferred with the reply."""
        tail = (str(len(keys)), *keys, *args)
        d = connection.execute("EVALSHA", self.sha, *tail)

        def unknown(failure):
            failure.trap(RedisReplyError)
            if not str(failure.value).startswith("NOSCRIPT"):
                return failure
            return connection.execute("EVAL", self.source, *tail)

        return d.addErrback(unknown)
