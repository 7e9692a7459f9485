"""Seats bots in games: as the opponent a player asked for, or in place of a player who left a match.

The owner of a session (the lobby, a match child) holds one :class:`Bots` and
asks it to seat a bot; the bot then plays through the session like any
connection (:class:`~rpsa.bots.player.BotPlayer`).
"""

from __future__ import annotations

import random
from typing import Iterable, Optional, Tuple

from twisted.logger import Logger

from rpsa.bots.player import BotPlayer
from rpsa.bots.strategy import DEFAULT_LEVEL, LEVELS, make_strategy
from rpsa.play import wire
from rpsa.rules import GameState

log = Logger()

#: What a bot is called in a game, by level.
BOT_NAMES = {"strategy": "Computer (cunning)", "random": "Computer (random)"}


class UnknownLevel(ValueError):
    """A bot level that does not exist."""


class Bots:
    """Makes and seats bots.

    ``reactor``: drives every bot's moves; ``rng``: seeds each bot's own
    random source (a seeded one makes bots reproducible in tests);
    ``takeover_level``: the level of a bot finishing a match for a player who
    left.
    """

    levels = tuple(LEVELS)

    def __init__(self, reactor, rng: Optional[random.Random] = None, takeover_level: str = DEFAULT_LEVEL):
        self._reactor = reactor
        self._rng = rng or random.Random()
        self.takeover_level = self.check_level(takeover_level)

    def check_level(self, level: Optional[str]) -> str:
        """``level``, or the default for None; raises UnknownLevel."""
        if level is None:
            return DEFAULT_LEVEL
        if level not in LEVELS:
            raise UnknownLevel(f"unknown bot level {level!r}; expected one of {', '.join(LEVELS)}")
        return level

    def identity(self, level: str, taken: Iterable[str]) -> Tuple[str, str]:
        """A user id (not among ``taken``) and a display name for a new bot of this level."""
        taken = set(taken)
        user_id, n = f"bot-{level}", 1
        while user_id in taken:
            n += 1
            user_id = f"bot-{level}-{n}"
        return user_id, BOT_NAMES.get(level, "Computer")

    def seat(self, session, seat, level: str) -> BotPlayer:
        """Connect a new bot of ``level`` to ``seat`` of ``session``; it plays from the welcome on."""
        bot = BotPlayer(session, seat.user_id, make_strategy(level, random.Random(self._rng.random())),
                        self._reactor, rng=random.Random(self._rng.random()))
        session.connect_player(seat, bot)
        log.info("a {bot_level} bot took seat {seat} of game {game_id}", bot_level=level, seat=seat.number,
                 game_id=session.game_id)
        return bot

    # -- --bot-takeover (what a GameSession given these bots asks) -----------------------

    @staticmethod
    def _takeover_applies(session) -> bool:
        return session.settings.bot_takeover is not None and session.engine.state is GameState.IN_PROGRESS

    def reconnect_grace(self, session) -> float:
        """How long a player who just left ``session`` has to come back: the takeover delay in a match in progress."""
        if self._takeover_applies(session):
            return session.settings.bot_takeover
        return session.settings.reconnect_grace

    def take_over(self, session, seat) -> bool:
        """``seat``'s grace ran out: seat a bot if the match is in progress and takeover is on; whether it did.

        Everyone is told (``bot_takeover``); the player's token still opens the
        seat, so a player who comes back after all takes it back from the bot.
        """
        if not self._takeover_applies(session) or not seat.ever_connected:
            return False
        if seat.user_id not in session.finished_by_bot:
            session.finished_by_bot.append(seat.user_id)
        audience = session.connections()
        if audience:
            frame = session.frames.message(wire.bot_takeover(seat.user_id))
            for conn in audience:
                conn.send(frame)
        self.seat(session, seat, self.takeover_level)
        return True
