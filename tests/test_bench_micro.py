"""bench/micro.py runs: each micro-benchmark once with a few operations (the figures are not checked)."""

import contextlib
import importlib.util
import io
import os
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from tests.support.process import child_env, python_command

PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "micro.py")


def load():
    """The bench/micro.py module, imported from its path."""
    spec = importlib.util.spec_from_file_location("bench_micro", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MicroTests(SynchronousTestCase):
    """Every case runs and prints its line."""

    def test_in_process_cases(self):
        """receive, write and poll print rpsa's figure beside the library's."""
        micro = load()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            for case in ("receive", "write", "poll"):
                self.assertEqual(micro.main([case, "--n", "50", "--repeat", "1"]), 0)
        lines = out.getvalue().splitlines()
        self.assertEqual([line.split()[0] for line in lines], ["receive", "write", "poll"])
        self.assertTrue(all("rpsa/library" in line for line in lines))

    def test_http_case(self):
        """The http case (which starts logging, so in a child process) prints the cost of a pair."""
        done = subprocess.run(python_command(PATH, "http", "--n", "40", "--repeat", "1"), env=child_env(),
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("create+join pair", done.stdout)
