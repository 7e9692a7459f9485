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
