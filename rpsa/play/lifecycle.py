"""What the engine's events say about a game's lifecycle, told to :class:`~rpsa.play.hooks.GameEvents`."""

from __future__ import annotations

from rpsa.rules import RoundEventType
from rpsa.rules.combat import WEAPON_NAMES
from rpsa.rules.events import GameEventType

_WEAPON_INDEX = {name: index for index, name in enumerate(WEAPON_NAMES)}  # a botch has none


def report_engine_events(events, session, engine_events) -> None:
    """Tell ``events`` (a GameEvents) about the rounds, exchanges and end in ``engine_events`` of ``session``."""
    game_id = session.game_id
    p1, p2 = session.engine.player_ids
    for event in engine_events:
        data = event.data
        if event.is_game_event:
            if event.type == GameEventType.GAME_COMPLETE:
                events.game_over(game_id, data["winnerId"], data["loserId"])
        elif event.type == RoundEventType.ROUND_STARTED:
            events.round_started(game_id, p1, p2)
        elif event.type == RoundEventType.WEAPONS_SELECTED:
            summary = data["attackSummary"]
            events.weapons_selected(game_id, p1, _WEAPON_INDEX.get(summary["p1Selection"]["weaponId"]),
                                    p2, _WEAPON_INDEX.get(summary["p2Selection"]["weaponId"]))
        elif event.type == RoundEventType.ROUND_FINISHED:
            events.round_finished(game_id, data["roundWinnerId"], data["roundLoserId"], p1, p2)
