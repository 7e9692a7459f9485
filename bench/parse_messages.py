#!/usr/bin/env python3
"""Micro-benchmark of the WebSocket hot path: parsing one client message.

    python3 bench/parse_messages.py [--reps N]

Deterministic: fixed payloads, ``time.process_time`` (CPU time of this process
only, so other load on the machine does not count), the best of five runs of
many repetitions.  Two workloads: the few payloads clients repeat (the memo of
recent payloads answers them) and unique payloads (every one parsed).

Compared: ``rpsa`` (:func:`rpsa.contract.messages.parse_client_message`, the
``msgspec`` structures, memoised), the same without the memo, and the design
it replaced (``json.loads`` then checks by hand, memoised or not), kept here
only as the baseline.
"""

from __future__ import annotations

import argparse
import functools
import json
import time

from rpsa.contract import messages
from rpsa.rules import FIGHTERS


def _by_hand(payload: bytes, is_binary: bool):
    """The replaced design: the standard JSON parser, then a check per field."""
    if is_binary:
        raise messages.BadMessage("invalid_json", "binary")
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise messages.BadMessage("invalid_json", "not JSON") from None
    if not isinstance(message, dict):
        raise messages.BadMessage("invalid_message", "not an object")
    kind = message.get("type")
    if kind == "select_weapon":
        index = message.get("index")
        if type(index) is not int or not 0 <= index <= 2:
            raise messages.BadMessage("bad_field", "index")
        return kind, index
    if kind == "select_fighter":
        fighter = message.get("characterId")
        if not isinstance(fighter, str) or fighter not in FIGHTERS:
            raise messages.BadMessage("bad_field", "characterId")
        return kind, fighter
    if kind == "start_battle":
        return kind, None
    raise messages.BadMessage("unknown_type", "type")


PARSERS = {
    "msgspec, memoised (rpsa)": messages.parse_client_message,
    "msgspec": messages.parse_client_message.__wrapped__,
    "json.loads + checks, memoised (before)": functools.lru_cache(maxsize=256)(_by_hand),
    "json.loads + checks": _by_hand,
}

REPEATED = [b'{"type":"select_weapon","index":%d}' % i for i in range(3)] + [
    b'{"type":"start_battle"}',
    b'{"type":"select_fighter","characterId":"%s"}' % next(iter(FIGHTERS)).encode(),
]
UNIQUE = [b'{"type":"select_weapon","index":%d,"seq":%d}' % (i % 3, i) for i in range(20000)]


def per_message(parse, payloads, reps: int) -> float:
    """CPU nanoseconds per message: the best of five runs of ``reps`` passes over ``payloads``."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(reps):
            for payload in payloads:
                parse(payload, False)
        best = min(best, time.process_time() - start)
    return best / (reps * len(payloads)) * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=40000, help="passes over the repeated payloads (default 40000)")
    args = parser.parse_args()
    print(f"{'parser':40s} {'repeated':>12s} {'unique':>12s}")
    for name, parse in PARSERS.items():
        repeated = per_message(parse, REPEATED, args.reps)
        unique = per_message(parse, UNIQUE, max(1, args.reps // 4000))
        print(f"{name:40s} {repeated:9.0f} ns {unique:9.0f} ns")


if __name__ == "__main__":
    main()
