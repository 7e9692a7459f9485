"""Hypothesis strategies for hostile WebSocket clients: streams of frames, each with the close code it must draw.

A stream is a list of :class:`Input`; each input is the bytes a client sends
and the close code the server must answer with if this input is the first
fatal one (``None``: the connection stays open).  The documented codes
(docs/protocol.md, "Close and error codes"): 1002 for a protocol violation,
1007 for a text message that is not UTF-8, 4102 for a message over the size
limit, 4103 over the message rate; a client's own close is answered with
1000.  Streams hold at most :data:`MAX_INPUTS` inputs, well under the
rate limit, unless they contain the ``burst`` input, which exceeds it on
purpose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import List, Optional

from hypothesis import strategies as st

from rpsa.rules import FIGHTERS
from tests.support import frames

MAX_INPUTS = 8
MAX_MESSAGE_BYTES = 4096  # the daemon's default --max-message-bytes
RATE = 20  # the daemon's default --max-messages-per-second


@dataclass(frozen=True)
class Input:
    """Bytes a client sends, and the close code they must draw if fatal (None: not fatal)."""

    kind: str
    data: bytes
    close: Optional[int] = None
    may_drop: bool = False  # the server may reset the connection right after its close frame

    def __repr__(self) -> str:
        return f"Input({self.kind}, {self.data[:40]!r}{'...' if len(self.data) > 40 else ''}, close={self.close})"


def _json_values():
    scalars = (st.none() | st.booleans() | st.integers(-3, 5) | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=10) | st.sampled_from(["select_fighter", "start_battle", "select_weapon", *FIGHTERS]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "index", "characterId", "x"]) | st.text(max_size=5), inner, max_size=4),
        max_leaves=10)


def game_messages():
    """Valid client messages, in any game state."""
    return st.one_of(
        st.builds(lambda f: {"type": "select_fighter", "characterId": f}, st.sampled_from(sorted(FIGHTERS))),
        st.just({"type": "start_battle"}),
        st.builds(lambda i: {"type": "select_weapon", "index": i}, st.integers(0, 2)),
    ).map(lambda m: Input("message", frames.text(m)))


def harmless():
    """Inputs answered with an error message (or nothing), never a close."""
    return st.one_of(
        game_messages(),
        _json_values().map(lambda v: Input("json", frames.text(json.dumps(v).encode()))),
        st.binary(max_size=60).filter(_is_utf8).map(lambda b: Input("text", frames.frame(frames.TEXT, b))),
        st.binary(max_size=60).map(lambda b: Input("binary", frames.frame(frames.BINARY, b))),
        st.binary(max_size=125).map(lambda b: Input("ping", frames.frame(frames.PING, b))),
        st.binary(max_size=125).map(lambda b: Input("pong", frames.frame(frames.PONG, b))),
        st.tuples(st.binary(min_size=1, max_size=30), st.binary(max_size=30)).filter(lambda p: _is_utf8(p[0] + p[1]))
        .map(lambda p: Input("fragmented", frames.frame(frames.TEXT, p[0], fin=False)
                             + frames.frame(frames.PING, b"mid") + frames.frame(frames.CONTINUATION, p[1]))),
    )


def fatal():
    """Inputs that must close the connection, each with its code."""
    return st.one_of(
        st.integers(MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES * 3).map(
            lambda n: Input("too_big", frames.text(b'"' + b"x" * n + b'"'), 4102)),
        st.just(Input("burst", b"".join(frames.frame(frames.PING, b"") for _ in range(RATE * 3)), 4103)),
        st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"a\xf0\x28\x8c\x28"]).map(
            lambda b: Input("bad_utf8", frames.frame(frames.TEXT, b), 1007)),
        st.sampled_from([
            frames.frame(frames.TEXT, b"{}", mask=False),
            frames.frame(frames.TEXT, b"{}", rsv=4),
            frames.frame(0x3, b"x"),
            frames.frame(0xB, b"x"),
            frames.frame(frames.CONTINUATION, b"x"),
            frames.frame(frames.PING, b"x" * 126),
            frames.frame(frames.PING, b"x", fin=False),
        ]).map(lambda b: Input("protocol_error", b, 1002)),
        # A malformed close frame: Autobahn answers 1002 and resets the connection at once, so a
        # client on a real socket may lose the close frame and see the connection drop (1006).
        st.sampled_from([frames.close_frame(999), frames.close_frame(1005), frames.frame(frames.CLOSE, b"\x03")])
        .map(lambda b: Input("bad_close", b, 1002, may_drop=True)),
        st.sampled_from([1000, 1001, 3000, 4000, 4999]).map(lambda c: Input("client_close", frames.close_frame(c), 1000)),
    )


def streams():
    """A stream of inputs: harmless ones, optionally ended by a fatal one."""
    return st.tuples(st.lists(harmless(), max_size=MAX_INPUTS - 1), st.none() | fatal()).map(
        lambda t: t[0] + ([t[1]] if t[1] is not None else []))


def expected_close(stream: List[Input]) -> Optional[int]:
    """The close code the stream must draw: its first fatal input's."""
    return next((i.close for i in stream if i.close is not None), None)


def may_drop(stream: List[Input]) -> bool:
    """Whether the stream's first fatal input may end in a dropped connection instead of its close frame."""
    return next((i.may_drop for i in stream if i.close is not None), False)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
