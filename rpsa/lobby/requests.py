"""What the HTTP APIs ask of the lobby: seats handed out, games removed, listed, shown.

:class:`LobbyRequests` does it on this process's :class:`~rpsa.lobby.games.Lobby` and
answers at once with plain values; :class:`rpsa.cluster.games.ClusterGames` has the same
methods for a node of a cluster and answers with Deferreds (the game may live on another
node).  The routes ``yield`` either, so one route serves both.  Errors are the lobby's
(:class:`~rpsa.lobby.games.LobbyError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from rpsa.play import views


@dataclass(frozen=True)
class Seated:
    """A seat handed out: its game and token; in a cluster, the node holding it and its public URL.

    ``host_token``: the game's shared token (the host's), when the game was created with
    ``shared_token`` (the original's routes with ``--compat-shared-token``); else None.
    """

    game_id: str
    token: str
    node: Optional[str] = None
    public_url: Optional[str] = None
    host_token: Optional[str] = None


class LobbyRequests:
    """The APIs' requests, done on ``lobby`` (a :class:`~rpsa.lobby.games.Lobby`) at once."""

    node: Optional[str] = None  # a cluster's node name
    public_url: Optional[str] = None

    def __init__(self, lobby):
        self.lobby = lobby

    def _seated(self, session, seat) -> Seated:
        host_token = session.seats[0].token if getattr(session, "shared_token", False) else None
        return Seated(session.game_id, seat.token, self.node, self.public_url, host_token)

    def create(self, user_id: str, username: str, game_id: Optional[str] = None, rounds: int = 3,
               **extra) -> Seated:
        """A new game with ``user_id`` as its host; ``extra``: the lobby's ``bot_level``, ``linger``, ``shared_token``."""
        session, seat = self.lobby.create(user_id, username, game_id, rounds, **extra)
        return self._seated(session, seat)

    def join(self, game_id: str, user_id: str, username: str) -> Seated:
        session, seat = self.lobby.join(game_id, user_id, username)
        return self._seated(session, seat)

    def remove(self, game_id: str, code: int) -> None:
        self.lobby.remove(game_id, code)

    def remove_player(self, game_id: str, user_id: str) -> bool:
        """Remove player 2; True if their connection was open."""
        session = self.lobby.games.get(game_id)
        seat = session.seat_for_user(user_id) if session is not None else None
        connected = seat is not None and seat.connected
        self.lobby.remove_player(game_id, user_id)
        return connected

    def list(self, joinable_only: bool = False) -> List[Dict[str, Any]]:
        """The games' summaries, oldest first."""
        return [self.summary(session) for session in self.lobby.list(joinable_only)]

    def get(self, game_id: str) -> Dict[str, Any]:
        return self.summary(self.lobby.get(game_id))

    def summary(self, session) -> Dict[str, Any]:
        summary = views.summary(session)
        if self.node is not None:
            summary["node"] = self.node
        return summary

    def relay(self, request, token: str):
        """The resource relaying an original-protocol WebSocket whose ``token`` another node holds, or None."""
        return None
