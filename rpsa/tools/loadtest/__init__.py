"""Load-test an RPSA server: ``python -m rpsa.tools.loadtest`` (console script ``rpsa-loadtest``).

The tool plays N concurrent two-player games against a server (rpsa's native
routes, or the original server's with ``--compat``) and reports what it saw.
Its figures are computed exactly as the reference Node generator
(``bench/loadgen.js`` in the shared benchmark folder) computes them, so the two
can be compared run for run.

Modules:

* :mod:`~rpsa.tools.loadtest.cli`: options, ``main``, the text and JSON reports;
* :mod:`~rpsa.tools.loadtest.run`: one run (LoadTest): ramp, watchdog, samplers, teardown, report figures;
* :mod:`~rpsa.tools.loadtest.game`: one simulated game, step by step, on either route set;
* :mod:`~rpsa.tools.loadtest.client`: a player's WebSocket and the HTTP client;
* :mod:`~rpsa.tools.loadtest.messages`: the messages sent and recognised, named from
  :mod:`rpsa.play.wire` and :mod:`rpsa.rules`;
* :mod:`~rpsa.tools.loadtest.statistics`: percentiles, summaries, the timeline, tick jitter, counters (pure);
* :mod:`~rpsa.tools.loadtest.usage`: CPU, RSS and steal from /proc.
"""
