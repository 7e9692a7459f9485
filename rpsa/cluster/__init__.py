"""A cluster: many rpsa processes (nodes) sharing one lobby through Redis (only with ``--redis``).

Each game and match lives in exactly one node, its owner, which alone changes it; the
others find it in a directory in Redis and carry requests to it over a bus, the way
Colyseus does it.  What this package owns:

- :mod:`~rpsa.cluster.directory`: the game directory (ids claimed cluster-wide, every game
  mirrored on each change, listings, token lookups), and :mod:`~rpsa.cluster.scripts`, the
  Lua scripts behind it (the keys are documented in :mod:`rpsa.redis.schema`);
- :mod:`~rpsa.cluster.nodes`: each node's heartbeat with a TTL (a dead node drops out
  within 5 s), the view of the live nodes, and placement by most free slots;
- :mod:`~rpsa.cluster.bus`: requests to the owner and its replies over Redis pub/sub,
  with a timeout (``504 owner_unreachable``);
- :mod:`~rpsa.cluster.games` and :mod:`~rpsa.cluster.matches`: what the lobby and match
  routes do in a cluster (act here, or forward to the owner / the node with most room);
- :mod:`~rpsa.cluster.relay`: original-protocol WebSockets spliced to their game's node;
- :mod:`~rpsa.cluster.figures`: the cluster's ``/metrics``; :mod:`~rpsa.cluster.errors`:
  ``503 directory_unavailable`` and ``504 owner_unreachable``;
- :mod:`~rpsa.cluster.options` (``--node-name``, ``--forward-timeout``,
  ``--match-public-url``) and :mod:`~rpsa.cluster.node`, which builds one node's parts.
"""
