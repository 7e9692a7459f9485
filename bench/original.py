#!/usr/bin/env python3
"""Read and check the configuration of a scratch copy of the original Node server before a benchmark run.

    python3 bench/original.py check ORIGINAL_DIR [--http-port 8080] [--ws-port 8085]   # exit 0 if usable
    python3 bench/original.py redis-port ORIGINAL_DIR                                   # the port its Redis URL names

The original (Varcade's ``game_rps/server``, GPL-3.0, never copied into this repository) takes its listening
hosts and ports and its Redis URL from constants at the top of ``index.js``, not from the environment::

    const httpServerPort = 8080
    const httpServerHost = '0.0.0.0'
    const socketPort = 8085
    const socketHost = '0.0.0.0'
    const eventStreamURL = 'redis://redis-db:6379/1'

``bench/README.md`` ("The original server") says how to set them in the scratch copy: both hosts
127.0.0.1, the Redis URL ``redis://127.0.0.1:PORT/1``.  ``check`` reads them and refuses (exit 1, one line per
problem) a copy that would listen beyond loopback, on other ports than the benchmark drives, or look for its
Redis anywhere but 127.0.0.1; ``bench/scenario.sh`` then starts a redis-server (no persistence) on PORT.
The functions are pure (text in, values and problems out) so ``tests/test_bench_original.py`` checks them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Dict, List, Optional
from urllib.parse import urlsplit

NAMES = ("httpServerPort", "httpServerHost", "socketPort", "socketHost", "eventStreamURL")
_CONST = re.compile(r"^\s*(?:const|let|var)\s+(\w+)\s*=\s*(?:(\d+)|'([^']*)'|\"([^\"]*)\")\s*;?\s*(?://.*)?$")


def read_constants(text: str) -> Dict[str, object]:
    """The literal constants of NAMES in index.js text: ints for numbers, str for quoted strings (first wins)."""
    found: Dict[str, object] = {}
    for line in text.splitlines():
        m = _CONST.match(line)
        if m and m.group(1) in NAMES and m.group(1) not in found:
            found[m.group(1)] = int(m.group(2)) if m.group(2) is not None else (
                m.group(3) if m.group(3) is not None else m.group(4))
    return found


def redis_address(url: object) -> Optional[tuple]:
    """(host, port) of a ``redis://host:port/db`` URL (port 6379 when absent), or None if it is not one."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or 6379
    except ValueError:
        return None
    if parts.scheme != "redis" or not parts.hostname:
        return None
    return parts.hostname, port


def problems(constants: Dict[str, object], http_port: int, ws_port: int) -> List[str]:
    """What stops the benchmark from running this configuration ([] when it is usable)."""
    out = [f"index.js: no literal `const {n} = ...` (set it as bench/README.md says)" for n in NAMES
           if n not in constants]
    for name in ("httpServerHost", "socketHost"):
        if name in constants and constants[name] != "127.0.0.1":
            out.append(f"index.js: {name} is {constants[name]!r}, not '127.0.0.1' (it would listen beyond loopback)")
    for name, want, var in (("httpServerPort", http_port, "HTTP_PORT"), ("socketPort", ws_port, "WS_PORT")):
        if name in constants and constants[name] != want:
            out.append(f"index.js: {name} is {constants[name]}, the benchmark drives {var}={want} "
                       f"(set {var}={constants[name]} or edit index.js)")
    if "eventStreamURL" in constants:
        addr = redis_address(constants["eventStreamURL"])
        if addr is None:
            out.append(f"index.js: eventStreamURL {constants['eventStreamURL']!r} is not a redis://host:port/db URL")
        elif addr[0] != "127.0.0.1":
            out.append(f"index.js: eventStreamURL names Redis at {addr[0]}, not 127.0.0.1")
        elif addr[1] in (http_port, ws_port):
            out.append(f"index.js: eventStreamURL's port {addr[1]} is one the server listens on")
    return out


def read_index(original_dir: str) -> Dict[str, object]:
    """The constants of ORIGINAL_DIR/index.js."""
    with open(os.path.join(original_dir, "index.js"), encoding="utf-8") as f:
        return read_constants(f.read())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Check a scratch copy of the original server's index.js.")
    p.add_argument("command", choices=("check", "redis-port"))
    p.add_argument("original_dir")
    p.add_argument("--http-port", type=int, default=8080)
    p.add_argument("--ws-port", type=int, default=8085)
    a = p.parse_args(argv)
    try:
        constants = read_index(a.original_dir)
    except OSError as e:
        print(f"original.py: {e}", file=sys.stderr)
        return 1
    found = problems(constants, a.http_port, a.ws_port)
    if a.command == "redis-port":
        addr = redis_address(constants.get("eventStreamURL"))
        if found or addr is None:
            print("\n".join(found) or "index.js: no Redis URL", file=sys.stderr)
            return 1
        print(addr[1])
        return 0
    for line in found:
        print(f"original.py: {line}", file=sys.stderr)
    if not found:
        print(f"original.py: {a.original_dir}/index.js: HTTP 127.0.0.1:{constants['httpServerPort']}, "
              f"WebSocket 127.0.0.1:{constants['socketPort']}, Redis {constants['eventStreamURL']}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
