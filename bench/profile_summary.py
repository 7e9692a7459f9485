#!/usr/bin/env python3
"""Summarise py-spy raw profiles (collapsed stacks): where rpsa's busy time goes, by function and by part.

    python3 bench/profile_summary.py bench/results/steady3000-.../profile/rpsa.rep1.txt [more files] [--top 25]

A raw profile (``py-spy record -f raw``, as ``PROFILE=1 bench/scenario.sh`` records it) has one line per
distinct stack, ``frame;frame;...;frame COUNT``, outermost frame first; without ``--idle`` every sample is
busy time.  Printed: the share of samples in each part of the server (PARTS: the first pattern found in a
stack, innermost frame first, decides), then the functions with the most samples on top of the stack (self)
and anywhere in it (inclusive), each as a percentage of all samples.  Several files are added up (reps).
"""

from __future__ import annotations

import argparse
import collections
import sys
from typing import Dict, Iterable, List, Tuple

# (part, substrings of a frame) -- checked innermost frame first; the first frame that matches any
# pattern names the part of the whole sample.
PARTS: List[Tuple[str, Tuple[str, ...]]] = [
    ("JSON decode", ("decode (json", "raw_decode (json", "loads (json")),
    ("JSON encode", ("encode (json", "iterencode (json", "dumps (json")),
    ("rules engine", ("(rpsa/rules/",)),
    ("logging", ("(twisted/logger/", "(twisted/python/log.py", "access_log", "(rpsa/daemon/logs.py")),
    ("send (socket writes)", ("send (socket", "writeSomeData (twisted/internet/tcp.py", "doWrite (twisted/internet/",
                              "write_now (rpsa/")),
    ("epoll (un)register", ("startWriting (", "stopWriting (", "_add (twisted/internet/epollreactor.py",
                            "_remove (twisted/internet/epollreactor.py")),
    ("receive: frame parsing", ("processData (autobahn", "_dataReceived (autobahn", "consumeData (autobahn",
                                "onFrame", "create_xor_masker", "utf8validator", "lean_receive", "(rpsa/play/fastpath.py")),
    ("receive: socket reads", ("doRead (twisted/internet/tcp.py", "recv (")),
    ("tick and broadcast", ("(rpsa/play/ticker.py", "(rpsa/play/session.py", "broadcast")),
    ("HTTP: routing and request", ("(klein/", "(twisted/web/")),
    ("log context (per event)", ("callWithLogger (twisted/python/log.py", "callWithContext (twisted/",
                                 "(twisted/python/context.py")),
    ("reactor loop", ("(twisted/internet/",)),
]


def read_stacks(lines: Iterable[str]) -> Dict[Tuple[str, ...], int]:
    """{stack (outermost first): samples} from collapsed-stack lines (malformed lines skipped)."""
    stacks: Dict[Tuple[str, ...], int] = collections.Counter()
    for line in lines:
        line = line.rstrip("\n")
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def part_of(stack: Tuple[str, ...]) -> str:
    """The part of the server a stack belongs to (PARTS), 'other' if none matches."""
    for frame in reversed(stack):
        for name, patterns in PARTS:
            if any(p in frame for p in patterns):
                return name
    return "other"


def summarize(stacks: Dict[Tuple[str, ...], int]) -> Dict[str, Dict[str, float]]:
    """Percentages of all samples: ``parts``, ``self`` and ``inclusive`` (per function)."""
    total = sum(stacks.values()) or 1
    parts: Dict[str, int] = collections.Counter()
    own: Dict[str, int] = collections.Counter()
    incl: Dict[str, int] = collections.Counter()
    for stack, n in stacks.items():
        parts[part_of(stack)] += n
        if stack:
            own[stack[-1]] += n
        for frame in set(stack):
            incl[frame] += n
    pct = lambda c: {k: round(100.0 * v / total, 1) for k, v in c.most_common()}  # noqa: E731
    return {"parts": pct(parts), "self": pct(own), "inclusive": pct(incl), "samples": {"total": total}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Summarise py-spy raw profiles.")
    p.add_argument("files", nargs="+")
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args(argv)
    stacks: Dict[Tuple[str, ...], int] = collections.Counter()
    for name in a.files:
        with open(name, encoding="utf-8", errors="replace") as f:
            for k, v in read_stacks(f).items():
                stacks[k] += v
    if not stacks:
        print("profile_summary.py: no samples", file=sys.stderr)
        return 2
    s = summarize(stacks)
    print(f"{s['samples']['total']} busy samples in {len(a.files)} file(s)")
    for title in ("parts", "self", "inclusive"):
        print(f"\n{title}:")
        for k, v in list(s[title].items())[: a.top]:
            print(f"  {v:5.1f} %  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
