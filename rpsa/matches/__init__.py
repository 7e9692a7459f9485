"""One child process per match: the launcher, its line protocol, and the child itself.

:mod:`~rpsa.matches.stdio` is the daemon <-> child line protocol (both
directions); :mod:`~rpsa.matches.child` is the child's program
(``python -m rpsa.matches.child``); :mod:`~rpsa.matches.process`,
:mod:`~rpsa.matches.launcher` and :mod:`~rpsa.matches.warmpool` run children from
the daemon; :mod:`~rpsa.matches.api` is ``/api/match``.
"""
