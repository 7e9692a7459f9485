"""Every key, stream and message rpsa writes to Redis: the one place that documents them.

Names
=====

Keys that rpsa owns start with the **key prefix** (``--redis-key-prefix``, default
``rpsa:``), so that several deployments, or rpsa and other programs, can share one Redis
database.  A stream that another program reads under a name it chooses (the Varcade
portal's ``game_event_stream``) is named by its own option and is used verbatim, without
the prefix.  rpsa never deletes or rewrites a key it does not own.

================================  ======  ====================================================
key                               type    what
================================  ======  ====================================================
``--event-stream NAME``           stream  the Varcade event stream (below); trimmed with
                                          ``XADD MAXLEN ~ --event-stream-maxlen``
``PREFIX stream-writer:ID``       string  the last sequence number the writer ``ID`` (one per
                                          process start, random) appended; expires 24 h after
                                          its last write (see *Writing* below)
================================  ======  ====================================================

The Varcade event stream
========================

One entry per game lifecycle event, appended with an automatic id (``XADD ... *``) in the
order the events happened, for games on the original's routes, on the native routes and
in launched matches alike.  Every entry starts with ``product_id`` (``--product-id``,
``exrps`` for the Varcade portal), ``game_id`` and ``type``; then the event's own fields,
in exactly this order; every value is a string.  These are the original Varcade server's
entries (``../shared/spec/rules.md``), which the portal's matchmaker reads: it offers a
game for joining only after its ``creator_joined`` entry.

==================  ======================================  =========================================
``type``            fields after ``type``                   written when
==================  ======================================  =========================================
state_change        ``new_state`` = ``creator_joined``      the host's (player 1's) socket is accepted,
                                                            each time
state_change        ``new_state`` = ``all_players_joined``  player 2's socket is accepted, each time
gameplay            ``event_name`` = ``select_fighter``,    a fighter pick is accepted (data: the
                    ``event_data``, ``user_id``             character id, e.g. ``aru``)
gameplay            ``event_name`` = ``set_ready``,         a player sends ``start_battle``
                    ``event_data`` = ``""``, ``user_id``
gameplay            ``event_name`` = ``select_weapon``,     the engine emits WEAPONS_SELECTED: one
                    ``event_data``, ``user_id``             entry for player 1, then one for player 2,
                                                            with the weapon that counted as a decimal
                                                            index (``0`` rock, ``1`` paper, ``2``
                                                            scissors), ``""`` for a botch (no pick)
gameplay            ``event_name`` = ``progression``,       ROUND_STARTED
                    ``progress_event`` = ``round_started``,
                    ``p1_id``, ``p2_id``
gameplay            ``round_winner_id``,                    ROUND_FINISHED (the round's winner and
                    ``round_loser_id``, ``event_name`` =    loser first)
                    ``progression``, ``progress_event`` =
                    ``round_finished``, ``p1_id``, ``p2_id``
game_over           ``winner_id``, ``loser_id``             GAME_COMPLETE
player_disconnect   ``player_id``                           player 2's socket closes while the game
                                                            goes on (the host's closing removes the
                                                            game instead)
game_removed        (none)                                  the game is removed for any reason (after
                                                            game over, the host leaving, a remove
                                                            call, a timeout, shutdown)
==================  ======================================  =========================================

User ids are the ``userId`` / ``user_id`` the players were seated with; ``p1_id`` is the
creator's.  The builders below (``state_change`` ... ``game_removed``) produce exactly these
field lists; nothing else in rpsa spells a field name of this stream.

Writing
=======

:class:`~rpsa.redis.stream.StreamWriter` appends entries through one Lua script
(:data:`APPEND_SCRIPT`, run with ``EVALSHA``, ``EVAL`` when Redis does not know it yet)
that takes a batch of entries, each with the writer's next sequence number, and appends
only those whose number is above the one stored under ``PREFIX stream-writer:ID``.  A
batch whose reply was lost with the connection is sent again after the reconnection;
the entries Redis already had are skipped, so none is written twice and none out of
order.

The cluster (``rpsa.cluster``)
==============================

With ``--redis`` every rpsa process is a **node** of a cluster named by ``--node-name``.
Each node writes only its own node record and the entries of the games and matches it
owns; what another node owns it reads, and changes only by asking the owner over the bus.
``NODE`` is a node name, ``INC`` a node's **incarnation** (random, one per process start:
a node restarted under the same name does not inherit its predecessor's entries), ``ID`` a
game or match id.  An entry is **live** while its owner's node record exists and carries
the entry's incarnation; an entry that is not live is free (a claim may take it over, a
listing skips it, a heartbeat of any node deletes it).

================================  ======  ====================================================
key                               type    what
================================  ======  ====================================================
``PREFIX node:NAME``              hash    the node's heartbeat, rewritten every 2 s, expiring
                                          5 s after the last (``PEXPIRE``): ``incarnation``,
                                          ``public_url``, ``match_public_url`` (a template
                                          with ``{port}``, or ``""``), ``games``,
                                          ``max_games``, ``matches``, ``max_matches``,
                                          ``draining`` (``1``/``0``), ``started_at`` (Unix s)
``PREFIX nodes``                  set     the names of the nodes that wrote a heartbeat and
                                          were not yet found dead
``PREFIX game:ID``                hash    a game of the cluster: ``owner`` (``NODE``),
                                          ``incarnation``, ``created_at`` (Unix s, float),
                                          then, once the game exists (a claim alone has none
                                          and is not listed): ``state``, ``rounds``,
                                          ``players`` (JSON: ``[{user_id, username,
                                          connected}]``), ``spectators``, ``joinable``
                                          (``1``/``0``), ``seats`` (the seat keys' hashes,
                                          space-separated)
``PREFIX games``                  zset    every game id, scored by ``created_at`` (listings
                                          are oldest first)
``PREFIX joinable``               zset    the joinable games' ids, scored by ``created_at``
``PREFIX node-games:NAME``        set     the ids of the games node ``NAME`` published (to
                                          delete them when it dies)
``PREFIX seat:SHA``               string  the id of the game a seat token opens; ``SHA`` is
                                          the token's SHA-256 in hex (tokens are never stored)
``PREFIX match:ID``               hash    a match id claimed cluster-wide: ``owner``,
                                          ``incarnation``, ``state`` (``live``/``ended``);
                                          an ended match's claim expires after an hour
``PREFIX node-matches:NAME``      set     the live matches of node ``NAME``
``PREFIX bus:NAME``               pub/sub the channel node ``NAME`` hears requests and replies on
================================  ======  ====================================================

The scripts that read and write these keys (each a single atomic ``EVALSHA``) are in
:mod:`rpsa.cluster.scripts`; they compute key names from the prefix, so the cluster needs
a single Redis (not Redis Cluster).  Creating a game claims its id first (the hash without
``state``): a claim fails while the id is live on another node (``409``).

The bus
-------

A node asks another (its ``owner``) to do what only the owner may, by publishing one JSON
object on ``PREFIX bus:OWNER``:
``{"id": "...", "from": NODE, "op": "join", "args": {...}}``; the owner answers on
``PREFIX bus:FROM`` with ``{"re": id, "result": ...}`` or ``{"re": id, "error":
{"status": 404, "code": "game_not_found", "message": "..."}}``.  A request nobody
subscribes to (``PUBLISH`` answered 0), or unanswered within ``--forward-timeout``, is
answered ``504 owner_unreachable`` by the node that forwarded it.  The operations and
their arguments: ``create``, ``join``, ``remove``, ``remove_player`` (the lobby's, see
:meth:`rpsa.cluster.games.LocalGames.handle_request`) and ``match_put``, ``match_get``,
``match_delete`` (:meth:`rpsa.cluster.matches.ClusterMatches.handle_request`).
"""

from __future__ import annotations

from typing import List

DEFAULT_PREFIX = "rpsa:"
WRITER_KEY_TTL = 24 * 3600  # seconds a writer's sequence key outlives its last write

# KEYS[1] the stream, KEYS[2] the writer's sequence key.
# ARGV[1] MAXLEN (0: no trimming), ARGV[2] the sequence key's TTL in seconds, then per entry:
# its sequence number, the count of field/value strings that follow, and those strings.
# Returns the number of entries appended.  An error from XADD (WRONGTYPE, OOM, ...) is
# returned after recording the entries appended before it.
APPEND_SCRIPT = """
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local trim = ARGV[1] ~= '0'
local i, added = 3, 0
while i <= #ARGV do
  local seq = tonumber(ARGV[i])
  local n = tonumber(ARGV[i + 1])
  if seq > last then
    local reply
    if trim then
      reply = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 2, i + 1 + n))
    else
      reply = redis.pcall('XADD', KEYS[1], '*', unpack(ARGV, i + 2, i + 1 + n))
    end
    if type(reply) == 'table' and reply.err then
      if added > 0 then redis.call('SET', KEYS[2], last, 'EX', ARGV[2]) end
      return redis.error_reply(reply.err)
    end
    last = seq
    added = added + 1
  end
  i = i + 2 + n
end
if added > 0 then redis.call('SET', KEYS[2], last, 'EX', ARGV[2]) end
return added
"""


class Keys:
    """The names of the keys rpsa owns, under ``prefix`` (``--redis-key-prefix``)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX):
        self.prefix = prefix

    def writer_sequence(self, writer_id: str) -> str:
        """The string holding the last sequence number stream writer ``writer_id`` appended."""
        return f"{self.prefix}stream-writer:{writer_id}"

    def bus(self, node: str) -> str:
        """The pub/sub channel node ``node`` hears requests and replies on (the cluster's bus)."""
        return f"{self.prefix}bus:{node}"

    def node(self, node: str) -> str:
        """The hash holding node ``node``'s heartbeat (the other cluster keys: see the scripts)."""
        return f"{self.prefix}node:{node}"


# -- the Varcade event stream's entries (field/value lists, in order) ------------------------

CREATOR_JOINED = "creator_joined"
ALL_PLAYERS_JOINED = "all_players_joined"


def _entry(product_id: str, game_id: str, kind: str, *fields: str) -> List[str]:
    return ["product_id", product_id, "game_id", game_id, "type", kind, *fields]


def state_change(product_id: str, game_id: str, new_state: str) -> List[str]:
    """``creator_joined`` or ``all_players_joined``."""
    return _entry(product_id, game_id, "state_change", "new_state", new_state)


def gameplay(product_id: str, game_id: str, event_name: str, event_data: str, user_id: str) -> List[str]:
    """``select_fighter``, ``set_ready`` or ``select_weapon`` by ``user_id``."""
    return _entry(product_id, game_id, "gameplay", "event_name", event_name, "event_data", event_data,
                  "user_id", user_id)


def round_started(product_id: str, game_id: str, p1_id: str, p2_id: str) -> List[str]:
    return _entry(product_id, game_id, "gameplay", "event_name", "progression", "progress_event", "round_started",
                  "p1_id", p1_id, "p2_id", p2_id)


def round_finished(product_id: str, game_id: str, winner_id: str, loser_id: str, p1_id: str,
                   p2_id: str) -> List[str]:
    return _entry(product_id, game_id, "gameplay", "round_winner_id", winner_id, "round_loser_id", loser_id,
                  "event_name", "progression", "progress_event", "round_finished", "p1_id", p1_id, "p2_id", p2_id)


def game_over(product_id: str, game_id: str, winner_id: str, loser_id: str) -> List[str]:
    return _entry(product_id, game_id, "game_over", "winner_id", winner_id, "loser_id", loser_id)


def player_disconnect(product_id: str, game_id: str, player_id: str) -> List[str]:
    return _entry(product_id, game_id, "player_disconnect", "player_id", player_id)


def game_removed(product_id: str, game_id: str) -> List[str]:
    return _entry(product_id, game_id, "game_removed")
