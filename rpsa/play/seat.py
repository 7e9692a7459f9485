"""A player's seat in a game, and the tokens that open seats."""

from __future__ import annotations

import secrets

from rpsa.rules import RulesError


def new_token() -> str:
    """A fresh seat token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


class SeatTaken(RulesError):
    """The user already holds a seat in this game."""


class Seat:
    """One player's place in a game: identity, token, connection and readiness.

    ``number`` is 1 (the host) or 2; ``user_id`` and ``username`` name the
    player; ``token`` opens the seat's WebSocket.
    """

    __slots__ = ("number", "user_id", "username", "token", "conn", "ever_connected", "ready", "absence_timer")

    def __init__(self, number: int, user_id: str, username: str, token: str):
        self.number = number
        self.user_id = user_id
        self.username = username
        self.token = token
        self.conn = None
        self.ever_connected = False
        self.ready = False
        self.absence_timer = None

    @property
    def connected(self) -> bool:
        """Whether a live connection holds this seat."""
        return self.conn is not None

    def __repr__(self) -> str:
        return f"<Seat {self.number} {self.user_id!r}>"
