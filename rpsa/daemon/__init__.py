"""The twistd wiring: options, the service tree, logging, metrics and systemd.

:mod:`~rpsa.daemon.tap` parses the options and composes the services in the
order they start; nothing outside this package imports the global reactor.
"""
