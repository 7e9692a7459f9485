"""Odd answers from the command line and rpsa.tac (issue 10)."""

import os
import subprocess
import sys

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from rpsa.daemon import tap
from tests.support.process import CODE_ROOT, child_env


class ListenTests(SynchronousTestCase):

    def test_tcp_without_a_port(self):
        """'--listen TCP:' says what is missing, not "Unknown endpoint type: 'tcp'"."""
        for endpoint in ("TCP:", "tcp:", "tcp::interface=127.0.0.1"):
            error = self.assertRaises(usage.UsageError, tap.Options().parseOptions, ["--listen", endpoint])
            self.assertNotIn("Unknown endpoint type", str(error))
            self.assertIn("port", str(error))


class TacTests(SynchronousTestCase):

    def test_error_names_the_variable(self):
        """An error from rpsa.tac names the variable at fault, not a placeholder."""
        env = child_env(RPSA_MAX_GAMES="lots")
        tac = os.path.join(CODE_ROOT, "rpsa.tac")
        result = subprocess.run([sys.executable, "-c", f"exec(open({tac!r}).read())"], env=env,
                                capture_output=True, timeout=60, text=True)
        self.assertNotEqual(result.returncode, 0)
        self.assertNotIn("--some-option", result.stderr)
        self.assertNotIn("RPSA_SOME_OPTION", result.stderr)
        self.assertIn("RPSA_MAX_GAMES", result.stderr)
