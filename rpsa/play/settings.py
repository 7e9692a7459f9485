"""Per-game settings shared by the lobby server and the match child."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Optional


@dataclass(frozen=True)
class GameSettings:
    """How every game on this server is run.

    ``tick`` seconds between engine ticks; ``reconnect_grace`` seconds a
    disconnected player's seat is held; ``join_timeout`` seconds a seat may stay
    unconnected after it was handed out; ``close_delay`` seconds between
    GAME_COMPLETE and closing the game's connections; ``ping_interval`` is the
    heartbeat (:mod:`rpsa.play.heartbeat`): a quiet connection is pinged after one,
    and dropped if it stays silent through the next.  ``bot_takeover``, when not
    None, is the reconnection grace in a match in progress, after which a bot
    finishes the match for the player who left (None: off).
    """

    tick: float = 1.0
    reconnect_grace: float = 10.0
    join_timeout: float = 60.0
    max_spectators: int = 100
    max_message_bytes: int = 4096
    max_messages_per_second: int = 20
    close_delay: float = 3.0
    ping_interval: float = 15.0
    bot_takeover: Optional[float] = None

    def to_json(self) -> dict:
        """The settings as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "GameSettings":
        """Settings from a dict; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
