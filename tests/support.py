"""Helpers shared by tests that run rpsa as a real process."""

import os
import sys

import rpsa

# The directory that holds the rpsa package under test (the checkout, or site-packages).
CODE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(rpsa.__file__)))


def child_env(**extra):
    """An environment for a child Python that imports the rpsa under test."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = CODE_ROOT + (os.pathsep + path if path else "")
    env.update(extra)
    return env


def python_command(*args):
    """argv running this interpreter with ``args``."""
    return [sys.executable, *args]
