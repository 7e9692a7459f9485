"""Hooks through which games and connections report what happens (metrics, status).

The base class does nothing; :mod:`rpsa.daemon.metrics` implements them.
"""


class ServerHooks:
    """Called by connections, sessions and the lobby.  Every method is optional."""

    def opened(self, conn) -> None:
        """A WebSocket connection opened (``conn.role`` is player or spectator)."""

    def closed(self, conn) -> None:
        """A WebSocket connection closed."""

    def received(self) -> None:
        """A client message was accepted for processing."""

    def rejected(self, reason: str) -> None:
        """A client message was rejected (``size``, ``rate``, or ``invalid``: answered with an error)."""

    def game_completed(self, session) -> None:
        """A match ended with GAME_COMPLETE."""

    def lobby_changed(self, lobby) -> None:
        """The set of games, or a game's state, changed."""

    def tick_lag(self, seconds: float) -> None:
        """A tick ran ``seconds`` after it was due (the :class:`~rpsa.play.ticker.TickScheduler`'s; per tick: keep it cheap)."""
