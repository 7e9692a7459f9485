"""The published contracts, each stated once and used by the code that enforces it.

- :mod:`rpsa.contract.names`: what an id or a name may hold (every id and name a
  client gives: native and original routes, the match API, the match child);
- :mod:`rpsa.contract.jsonbody`: reading a JSON document from a client with a size
  and a depth bound;
- :mod:`rpsa.contract.messages`: the WebSocket messages, both directions, as
  ``msgspec`` structures: the client messages are parsed with them, the JSON
  Schemas of both directions are generated from them;
- :mod:`rpsa.contract.bodies`: the HTTP request and answer bodies, likewise;
- :mod:`rpsa.contract.openapi`: the OpenAPI 3.1 document of every HTTP route
  (served at ``/openapi.json``, kept in ``docs/openapi.json``), built from the
  structures above and the route table it declares (a test compares that table
  with the routes the code serves).
"""
