"""Server-side players: bots that take a seat like a human and play through the same session code.

:mod:`~rpsa.bots.strategy` holds how they play (pure Python over the rules
engine's numbers, no Twisted: a random level and a strategy level that reads
the weapon figures and the opponent's history); :mod:`~rpsa.bots.player` is
the connection-like object that holds a seat and plays a strategy, on the
injected reactor, without a socket.
"""
