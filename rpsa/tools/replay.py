"""Replay recorded matches through the rules engine: ``python -m rpsa.tools.replay FILE``.

Each input line is a JSON object with at least ``name``, ``fighters``,
``num_rounds``, ``botch_damages`` and ``inputs`` (other keys are ignored).  Each
match is replayed with its botch damages injected and its inputs applied just
before their ticks, and one JSON line is printed per match:
``{"name", "events", "winner", "ticks"}``, with ``events`` in the recorded
format.  A bad line is reported on stderr with its line number, and the exit
status is non-zero; the good lines before it are still printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, Iterable, List, TextIO

from rpsa.rules import Game, RulesError

PLAYER_IDS = ("p1", "p2")

# A match of N rounds cannot last longer than this many ticks per round unless
# the engine is broken: a round ends after at most ~ (health / min damage)
# exchanges of 6 ticks each.  The bound keeps a faulty replay from spinning.
MAX_TICKS_PER_ROUND = 5000


class ReplayError(ValueError):
    """A match record that cannot be replayed."""


def _field(record: Dict[str, Any], key: str) -> Any:
    """``record[key]``, or ReplayError naming the missing key."""
    if key not in record:
        raise ReplayError(f"missing key {key!r}")
    return record[key]


def _require(record: Dict[str, Any], key: str, kind, what: str):
    """``record[key]`` if it is a ``kind`` (never a bool), or ReplayError saying it must be ``what``."""
    value = _field(record, key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ReplayError(f"{key!r} must be {what}")
    return value


class _BotchSource:
    """Hands out the recorded botch ``damages`` in order."""

    def __init__(self, damages: List[int]):
        self._damages = damages
        self._next = 0

    def __call__(self) -> int:
        if self._next >= len(self._damages):
            raise ReplayError("the match throws more botches than botch_damages lists")
        value = self._damages[self._next]
        self._next += 1
        return value


def replay_match(record: Dict[str, Any]) -> Dict[str, Any]:
    """Replay one match record and return ``{"name", "events", "winner", "ticks"}``."""
    if not isinstance(record, dict):
        raise ReplayError("a match record must be a JSON object")
    name = _require(record, "name", str, "a string")
    fighters = _require(record, "fighters", list, "a list of two fighter ids")
    if len(fighters) != 2:
        raise ReplayError("'fighters' must list exactly two fighter ids")
    num_rounds = _field(record, "num_rounds")  # the engine checks it (rules.game.VALID_ROUNDS)
    botches = _require(record, "botch_damages", list, "a list of integers")
    if not all(type(b) is int for b in botches):
        raise ReplayError("'botch_damages' must be a list of integers")
    inputs = _require(record, "inputs", list, "a list of inputs")

    schedule: Dict[int, List[Any]] = {}
    for i, item in enumerate(inputs):
        if not isinstance(item, dict):
            raise ReplayError(f"input {i} must be an object")
        tick, player, weapon = item.get("before_tick"), item.get("player"), item.get("weapon")
        if type(tick) is not int or tick < 1:
            raise ReplayError(f"input {i}: 'before_tick' must be an integer >= 1")
        if player not in (1, 2) or type(player) is not int:
            raise ReplayError(f"input {i}: 'player' must be 1 or 2")
        schedule.setdefault(tick, []).append((PLAYER_IDS[player - 1], weapon, i))

    game = Game(rounds=num_rounds, botch_damage=_BotchSource(botches))
    for player_id, fighter_id in zip(PLAYER_IDS, fighters):
        game.add_player(player_id)
        game.select_fighter(player_id, fighter_id)

    events: List[Dict[str, Any]] = []

    def record_events(tick: int, emitted) -> None:
        health = list(game.health)
        for event in emitted:
            entry: Dict[str, Any] = {"tick": tick, "class": event.classtype, "type": event.type}
            if event.data is not None:
                entry["data"] = event.data
            entry["health"] = health
            events.append(entry)

    record_events(0, game.start())
    max_ticks = MAX_TICKS_PER_ROUND * num_rounds
    tick = 0
    while not game.complete:
        tick += 1
        if tick > max_ticks:
            raise ReplayError(f"the match did not complete within {max_ticks} ticks")
        for player_id, weapon, i in schedule.get(tick, ()):
            try:
                game.select_weapon(player_id, weapon)
            except RulesError as e:
                raise ReplayError(f"input {i}: {e}") from None
        record_events(tick, game.tick())
    return {"name": name, "events": events, "winner": game.winner_id, "ticks": tick}


def replay_lines(lines: Iterable[str], out: TextIO, err: TextIO) -> int:
    """Replay every line; returns the exit status (0, or 1 after the first bad line)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            result = replay_match(record)
        except json.JSONDecodeError as e:
            err.write(f"line {number}: not valid JSON: {e}\n")
            return 1
        except (ReplayError, RulesError) as e:
            err.write(f"line {number}: {e}\n")
            return 1
        out.write(json.dumps(result, separators=(",", ":")) + "\n")
        out.flush()
    return 0


def main(argv=None) -> int:
    """Entry point of ``python -m rpsa.tools.replay`` and ``rpsa-replay``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m rpsa.tools.replay",
        description="Replay recorded RPSA matches (JSON lines) through the rules engine.",
    )
    parser.add_argument("file", help="a file of match records, one JSON object a line ('-' for stdin)")
    args = parser.parse_args(argv)
    try:
        source = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    except OSError as e:
        sys.stderr.write(f"cannot read {args.file}: {e.strerror}\n")
        return 2
    with source:
        return replay_lines(source, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
