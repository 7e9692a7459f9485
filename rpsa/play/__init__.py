"""One game over WebSocket: the room, its messages and its connections.

Used alike by the daemon's lobby and by a match child.  The room
(:mod:`~rpsa.play.session`) holds the seats, the spectators and the engine; the
wire format and close codes are in :mod:`~rpsa.play.wire`; the WebSocket side
(handshake, token, role, limits) in :mod:`~rpsa.play.websocket`; every override
of Autobahn's or twisted.web's internals in :mod:`~rpsa.play.fastpath`.
"""
