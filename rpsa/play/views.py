"""What a game shows: ``welcome``, ``player_joined`` and the summary the HTTP API lists.

Built from a :class:`~rpsa.play.session.GameSession` on demand; fighters are
hidden as the rules require (a player sees the opponent's pick only once both
have picked).
"""

from __future__ import annotations

from typing import Any, Dict

from rpsa.play import wire


def player_joined(session) -> Dict[str, Any]:
    """``player_joined``: who holds each seat, told to everyone when a player connects."""
    named = [(seat.user_id, seat.username) for seat in session.seats] + [None, None]
    return wire.player_joined(named[0], named[1])


def welcome(session, viewer) -> Dict[str, Any]:
    """The ``welcome`` message for a player (``viewer``, a seat) or a spectator (None)."""
    message: Dict[str, Any] = {"type": wire.WELCOME, "role": "player" if viewer else "spectator"}
    if viewer is not None:
        message["userId"] = viewer.user_id
    message["game"] = snapshot(session, viewer)
    return message


def snapshot(session, viewer) -> Dict[str, Any]:
    """The game as ``viewer`` (a seat, or None for a spectator) may see it."""
    engine = session.engine
    seats = session.seats
    picks = engine.fighters
    both_picked = len(seats) == 2 and picks[0] is not None and picks[1] is not None
    viewer_picked = viewer is not None and picks[viewer.number - 1] is not None
    health = engine.health
    players = []
    for seat in seats:
        index = seat.number - 1
        visible = seat is viewer or both_picked or (viewer_picked and viewer is not None)
        fighter = picks[index]
        players.append({
            "seat": seat.number,
            "user_id": seat.user_id,
            "username": seat.username,
            "connected": seat.connected,
            "fighter": fighter.id if (fighter is not None and visible) else None,
            "fighter_selected": fighter is not None,
            "ready": seat.ready,
            # A fighter's health would give a hidden pick away (100 or 120).
            "health": health[index] if (fighter is not None and visible) else None,
            "round_wins": engine.round_wins[index],
        })
        _flag_bot(seat, players[-1])
    round_state = engine.round_state
    return {
        "game_id": session.game_id,
        "state": session.state,
        "rounds": session.rounds,
        "round": engine.round_number,
        "round_state": None if round_state is None else int(round_state),
        "players": players,
        "spectators": len(session.spectators),
    }


def summary(session) -> Dict[str, Any]:
    """The game as the HTTP API lists it."""
    return {
        "game_id": session.game_id,
        "state": session.state,
        "rounds": session.rounds,
        "players": [
            _flag_bot(s, {"user_id": s.user_id, "username": s.username, "connected": s.connected})
            for s in session.seats
        ],
        "spectators": len(session.spectators),
        "joinable": session.joinable,
        "created_at": session.created_at,
    }


def _flag_bot(seat, entry: Dict[str, Any]) -> Dict[str, Any]:
    """``entry`` with ``"bot": true`` while a bot (:mod:`rpsa.bots`) holds the seat; no key otherwise."""
    if getattr(seat.conn, "is_bot", False):
        entry["bot"] = True
    return entry
