"""Redis: the one connection rpsa keeps to it, and everything rpsa writes there.

:mod:`~rpsa.redis.url` parses ``--redis`` URLs (``redis://``, ``rediss://`` with the
server's certificate verified, ``unix://``; password and database in the URL, never
shown); :mod:`~rpsa.redis.connection` is the Service that owns the process's single
connection (connects at start, reconnects with capped backoff, reports its state to
``/healthz`` and its figures, :mod:`~rpsa.redis.figures`, to ``/metrics``; nothing waits
on it);
:mod:`~rpsa.redis.schema` is the one place that documents every key, stream and message
rpsa writes (and the configurable key prefix); :mod:`~rpsa.redis.stream` writes entries
to a stream in order, through a bounded queue while Redis is away, never twice; and
:mod:`~rpsa.redis.varcade` turns game lifecycle events into the Varcade portal's
``game_event_stream`` entries (and relays them from a match child to its daemon).
:mod:`~rpsa.redis.options` holds the ``--redis`` family of options and builds all of it;
without ``--redis`` none of it is built.
"""
