"""One game over WebSocket: the room, its messages and its connections.

Used alike by the daemon's lobby and by a match child.  The room
(:mod:`~rpsa.play.session`) holds the seats, the spectators and the engine, and
is given the frame preparer it sends with; what a viewer sees of it
(``welcome``, the HTTP API's summary) is built by :mod:`~rpsa.play.views`; the
wire format and close codes are in :mod:`~rpsa.play.wire`; the WebSocket side
(handshake, token, role, limits: size, rate with pings counted, unread data, on
Autobahn's public hooks) in :mod:`~rpsa.play.websocket`; every override of
Autobahn's or twisted.web's internals for speed (and the frame preparer and GC
tuning they go with) in :mod:`~rpsa.play.fastpath`, those that bound hostile
clients (the HTTP deadline channel, the send-buffer checks) in
:mod:`~rpsa.play.bounds`; the engine ticks in :mod:`~rpsa.play.ticker`, the
dead-peer pings in :mod:`~rpsa.play.heartbeat`; :mod:`~rpsa.play.settings` and
:mod:`~rpsa.play.hooks` (:class:`~rpsa.play.hooks.ServerHooks`) are shared by
both.
"""
