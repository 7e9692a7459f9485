"""The daemon's in-process directory of games and its HTTP API.

:mod:`~rpsa.lobby.games` holds the games; :mod:`~rpsa.lobby.api` is the native
HTTP API and :mod:`~rpsa.lobby.compat` the original Varcade server's routes.
"""
