"""The Lua scripts through which nodes read and write the cluster's keys, each one atomic.

The keys, their fields and what *live* means are documented in :mod:`rpsa.redis.schema`
(section "The cluster"); this module is their code.  Every script takes the key prefix as
``ARGV[1]`` and builds the key names from it.  A node writes only what it owns: every
script that changes an entry checks its ``owner`` and ``incarnation`` first.
"""

from __future__ import annotations

from rpsa.redis.script import Script

_PRELUDE = """
local P = ARGV[1]
local function alive(owner, inc)
  return owner and inc and redis.call('HGET', P .. 'node:' .. owner, 'incarnation') == inc
end
local function drop_game(id)
  local key = P .. 'game:' .. id
  local f = redis.call('HMGET', key, 'owner', 'seats')
  if f[2] then
    for sha in string.gmatch(f[2], '%S+') do
      if redis.call('GET', P .. 'seat:' .. sha) == id then redis.call('DEL', P .. 'seat:' .. sha) end
    end
  end
  redis.call('DEL', key)
  redis.call('ZREM', P .. 'games', id)
  redis.call('ZREM', P .. 'joinable', id)
  if f[1] then redis.call('SREM', P .. 'node-games:' .. f[1], id) end
end
local function prune(name)
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'node-games:' .. name)) do
    if redis.call('HGET', P .. 'game:' .. id, 'owner') == name then drop_game(id) end
  end
  redis.call('DEL', P .. 'node-games:' .. name)
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'node-matches:' .. name)) do
    if redis.call('HGET', P .. 'match:' .. id, 'owner') == name then redis.call('DEL', P .. 'match:' .. id) end
  end
  redis.call('DEL', P .. 'node-matches:' .. name)
  redis.call('SREM', P .. 'nodes', name)
end
"""


def _script(body: str) -> Script:
    return Script(_PRELUDE + body)


# ARGV: prefix, node, incarnation, ttl (ms), then the node record's field/value pairs.
# Writes the record, then deletes every node found dead (and its entries).  Returns
# {1 if the record already held this incarnation else 0, {name, {field, value...}, ...}}.
HEARTBEAT = _script("""
local key = P .. 'node:' .. ARGV[2]
local before = redis.call('HGET', key, 'incarnation')
redis.call('HSET', key, unpack(ARGV, 5))
redis.call('PEXPIRE', key, ARGV[4])
redis.call('SADD', P .. 'nodes', ARGV[2])
local live = {}
for _, name in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
  local fields = redis.call('HGETALL', P .. 'node:' .. name)
  if #fields == 0 then prune(name) else table.insert(live, name); table.insert(live, fields) end
end
return {before == ARGV[3] and 1 or 0, live}
""")

# ARGV: prefix, node, incarnation.  A node leaving the cluster (a clean exit): its record and entries go.
LEAVE = _script("""
if redis.call('HGET', P .. 'node:' .. ARGV[2], 'incarnation') == ARGV[3] then
  redis.call('DEL', P .. 'node:' .. ARGV[2])
  prune(ARGV[2])
end
return 0
""")

# ARGV: prefix, id, node, incarnation, created_at.  Returns '' when the id is now the node's,
# else the name of the live owner that holds it (the node's own name if it holds it already).
CLAIM_GAME = _script("""
local id = ARGV[2]
local key = P .. 'game:' .. id
local o = redis.call('HMGET', key, 'owner', 'incarnation')
if o[1] then
  if alive(o[1], o[2]) then return o[1] end
  drop_game(id)
end
redis.call('HSET', key, 'owner', ARGV[3], 'incarnation', ARGV[4], 'created_at', ARGV[5])
redis.call('SADD', P .. 'node-games:' .. ARGV[3], id)
return ''
""")

GAME_FIELDS = ("created_at", "joinable", "state", "rounds", "players", "spectators", "seats")

# ARGV: prefix, node, incarnation, then per game: id and the values of GAME_FIELDS.
# Writes each game (taking over an entry that is not live); returns the ids held live by
# another node (conflicts: not written).
PUBLISH_GAMES = _script("""
local node, inc = ARGV[2], ARGV[3]
local conflicts = {}
local i = 4
while i <= #ARGV do
  local id = ARGV[i]
  local key = P .. 'game:' .. id
  local o = redis.call('HMGET', key, 'owner', 'incarnation', 'seats')
  local ours = o[1] == node and o[2] == inc
  if o[1] and not ours and alive(o[1], o[2]) then
    table.insert(conflicts, id)
  else
    if o[1] and not ours then drop_game(id); o[3] = false end
    local old = {}
    if o[3] then for sha in string.gmatch(o[3], '%S+') do old[sha] = true end end
    local seats = ARGV[i + 7]
    for sha in string.gmatch(seats, '%S+') do
      if old[sha] then old[sha] = nil else redis.call('SET', P .. 'seat:' .. sha, id) end
    end
    for sha, _ in pairs(old) do
      if redis.call('GET', P .. 'seat:' .. sha) == id then redis.call('DEL', P .. 'seat:' .. sha) end
    end
    redis.call('HSET', key, 'owner', node, 'incarnation', inc, 'created_at', ARGV[i + 1], 'joinable', ARGV[i + 2],
               'state', ARGV[i + 3], 'rounds', ARGV[i + 4], 'players', ARGV[i + 5], 'spectators', ARGV[i + 6],
               'seats', seats)
    redis.call('ZADD', P .. 'games', ARGV[i + 1], id)
    if ARGV[i + 2] == '1' then redis.call('ZADD', P .. 'joinable', ARGV[i + 1], id)
    else redis.call('ZREM', P .. 'joinable', id) end
    redis.call('SADD', P .. 'node-games:' .. node, id)
  end
  i = i + 8
end
return conflicts
""")

# ARGV: prefix, node, incarnation, ids...  Deletes the node's entries of these games (also
# those of its earlier incarnations); an id another node holds now only leaves the node's set.
REMOVE_GAMES = _script("""
local node, inc = ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local id = ARGV[i]
  local o = redis.call('HMGET', P .. 'game:' .. id, 'owner', 'incarnation')
  if o[1] == node and (o[2] == inc or not alive(o[1], o[2])) then drop_game(id)
  elseif o[1] ~= node then redis.call('SREM', P .. 'node-games:' .. node, id) end
end
return 0
""")

LISTED = ("owner", "state", "rounds", "players", "spectators", "joinable", "created_at")

# ARGV: prefix, index ('games' or 'joinable'), a node to leave out ('' for none).
# Returns, oldest first, per live game with a state: its id and the values of LISTED.
LIST_GAMES = _script("""
local live, out = {}, {}
for _, id in ipairs(redis.call('ZRANGE', P .. ARGV[2], 0, -1)) do
  local f = redis.call('HMGET', P .. 'game:' .. id, 'owner', 'incarnation', 'state', 'rounds', 'players',
                       'spectators', 'joinable', 'created_at')
  if f[1] and f[3] and f[1] ~= ARGV[3] then
    local key = f[1] .. ' ' .. f[2]
    if live[key] == nil then live[key] = alive(f[1], f[2]) and true or false end
    if live[key] then
      table.insert(out, id)
      table.insert(out, f[1])
      for j = 3, 8 do table.insert(out, f[j]) end
    end
  end
end
return out
""")

# ARGV: prefix, id.  The live game's values of LISTED (its state may be false: only claimed), or nil.
GET_GAME = _script("""
local f = redis.call('HMGET', P .. 'game:' .. ARGV[2], 'owner', 'incarnation', 'state', 'rounds', 'players',
                     'spectators', 'joinable', 'created_at')
if not alive(f[1], f[2]) then return nil end
return {f[1], f[3] or '', f[4] or '', f[5] or '', f[6] or '', f[7] or '', f[8] or ''}
""")

# ARGV: prefix, SHA-256 of a seat token.  {game id, owner} of the live game it opens, or nil.
TOKEN_GAME = _script("""
local id = redis.call('GET', P .. 'seat:' .. ARGV[2])
if not id then return nil end
local f = redis.call('HMGET', P .. 'game:' .. id, 'owner', 'incarnation')
if not alive(f[1], f[2]) then return nil end
return {id, f[1]}
""")

# ARGV: prefix, id, node, incarnation.  Returns '' when the match id is now the node's (live),
# else the name of the live node that holds it.
CLAIM_MATCH = _script("""
local id, node, inc = ARGV[2], ARGV[3], ARGV[4]
local key = P .. 'match:' .. id
local o = redis.call('HMGET', key, 'owner', 'incarnation')
if o[1] and alive(o[1], o[2]) and not (o[1] == node and o[2] == inc) then return o[1] end
redis.call('DEL', key)
redis.call('HSET', key, 'owner', node, 'incarnation', inc, 'state', 'live')
redis.call('SADD', P .. 'node-matches:' .. node, id)
return ''
""")

# ARGV: prefix, id, node, incarnation, ttl (ms; 0: delete the claim now).  An ended match of the
# node: its claim stays (for GET on any node) until the TTL, or goes at once.
END_MATCH = _script("""
local key = P .. 'match:' .. ARGV[2]
local o = redis.call('HMGET', key, 'owner', 'incarnation')
if o[1] == ARGV[3] and o[2] == ARGV[4] then
  if ARGV[5] == '0' then redis.call('DEL', key)
  else redis.call('HSET', key, 'state', 'ended'); redis.call('PEXPIRE', key, ARGV[5]) end
end
redis.call('SREM', P .. 'node-matches:' .. ARGV[3], ARGV[2])
return 0
""")

# ARGV: prefix, id.  The live node holding the match id, or nil.
MATCH_OWNER = _script("""
local o = redis.call('HMGET', P .. 'match:' .. ARGV[2], 'owner', 'incarnation')
if alive(o[1], o[2]) then return o[1] end
return nil
""")
