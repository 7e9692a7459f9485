"""The twistd wiring: options, the service tree, the root HTTP app, logging, metrics and systemd.

:mod:`~rpsa.daemon.tap` parses the options and composes the services in the
order they start (the only module importing the global reactor);
:mod:`~rpsa.daemon.service` is the top service (drain, signals, systemd
status); :mod:`~rpsa.daemon.root` the root Klein app (``/healthz``,
``/metrics``, the APIs mounted); :mod:`~rpsa.daemon.drain` the drain state and
sequence; :mod:`~rpsa.daemon.logs` (with :mod:`~rpsa.daemon.logtext`, its text lines), :mod:`~rpsa.daemon.metrics`,
:mod:`~rpsa.daemon.sdnotify`, :mod:`~rpsa.daemon.envconfig` (``RPSA_*``
variables), :mod:`~rpsa.daemon.listeners` and :mod:`~rpsa.daemon.optionsdoc`
(the options table of the docs).
"""
