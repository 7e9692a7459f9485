"""The scripts of ``bench/`` (not a package) as modules, for their tests."""

import importlib.util
import os

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench")


def bench_path(name):
    """The path of ``bench/<name>.py``."""
    return os.path.join(BENCH, name + ".py")


def load_bench(name):
    """``bench/<name>.py``, imported from its path as the module ``bench_<name>``."""
    spec = importlib.util.spec_from_file_location("bench_" + name, bench_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
