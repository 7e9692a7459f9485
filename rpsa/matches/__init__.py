"""One child process per match: the launcher, the warm pool, their line protocol, and the child itself.

:mod:`~rpsa.matches.stdio` is the daemon <-> child line protocol (both
directions, the match states, and its only description);
:mod:`~rpsa.matches.child` is the child's program (``python -m
rpsa.matches.child``); :mod:`~rpsa.matches.process` spawns, reads and stops
one child, :mod:`~rpsa.matches.children` counts them all against one limit, and :mod:`~rpsa.matches.heartbeat` notices the hung ones; :mod:`~rpsa.matches.launcher` (the match table) and
:mod:`~rpsa.matches.warmpool` are the daemon's services that run them;
:mod:`~rpsa.matches.notify` posts match events; :mod:`~rpsa.matches.api` is
``/api/match``.
"""
