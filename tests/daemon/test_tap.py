"""The twistd plugin, its options and makeService."""

import os
import subprocess
import sys

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase

from rpsa.daemon import tap


class PluginTests(SynchronousTestCase):
    """The plugin is discoverable and points at rpsa.daemon.tap."""

    def test_plugin_registered(self):
        """getPlugins(IServiceMaker) finds a maker named rpsa whose options are rpsa.daemon.tap's."""
        makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker)}
        self.assertIn("rpsa", makers)
        self.assertIs(makers["rpsa"].options, tap.Options)


class InstalledPluginTests(SynchronousTestCase):
    """After ``pip install .``, twistd lists rpsa from outside the checkout."""

    def test_twistd_help_lists_rpsa(self):
        """``twistd --help`` run from an empty directory, without PYTHONPATH, lists rpsa."""
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        self.assertTrue(os.path.exists(twistd), f"{twistd} missing: install rpsa with pip install .")
        cwd = self.mktemp()
        os.makedirs(cwd)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run([twistd, "--help"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        commands = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith("    ") and line.split()]
        self.assertIn("rpsa", commands, "rpsa is not registered: install it with a normal pip install .")
