"""The daemon's in-process directory of games and its HTTP APIs.

:mod:`~rpsa.lobby.games` holds the games (told whether the server drains by
an object given to it); :mod:`~rpsa.lobby.api` is the native HTTP API
(mounted at ``/api/``) and :mod:`~rpsa.lobby.compat` the original Varcade
server's routes (mounted at ``/``), both on :mod:`rpsa.web`'s plumbing.
"""
