"""rpsa: a production game server for Rock Paper Scissors Apocalypse, on Twisted."""

__version__ = "0.1.0"
