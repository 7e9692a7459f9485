"""bench/micro.py runs: each micro-benchmark once with a few operations (the figures are not checked)."""

import contextlib
import io
import subprocess

from twisted.trial.unittest import SynchronousTestCase

from tests.support.bench import bench_path, load_bench
from tests.support.process import child_env, python_command


class MicroTests(SynchronousTestCase):
    """Every case runs and prints its line."""

    def test_in_process_cases(self):
        """receive, write and poll print rpsa's figure beside the library's."""
        micro = load_bench("micro")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            for case in ("receive", "write", "poll"):
                self.assertEqual(micro.main([case, "--n", "50", "--repeat", "1"]), 0)
        lines = out.getvalue().splitlines()
        self.assertEqual([line.split()[0] for line in lines], ["receive", "write", "poll"])
        self.assertTrue(all("rpsa/library" in line for line in lines))

    def test_http_case(self):
        """The http case (which starts logging, so in a child process) prints the cost of a pair."""
        done = subprocess.run(python_command(bench_path("micro"), "http", "--n", "40", "--repeat", "1"), env=child_env(),
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("create+join pair", done.stdout)
