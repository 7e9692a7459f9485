"""Registers ``twistd rpsa``; the options and the service live in :mod:`rpsa.daemon.tap`."""

from twisted.application.service import ServiceMaker

rpsa = ServiceMaker("rpsa", "rpsa.daemon.tap", "Rock Paper Scissors Apocalypse game server", "rpsa")
