"""systemd/rpsa@.service, rpsa@.socket and rpsa-cluster.env: systemd accepts them, and they agree with rpsa.

Like tests/integration/test_systemd_units.py (whose helpers these tests use), they need
``systemd-analyze`` (Debian's ``systemd``; ``.ci/run`` installs it).
"""

import os
import re
import shutil
import subprocess
import tempfile

from twisted.trial.unittest import SynchronousTestCase as TestCase

from rpsa.daemon import envconfig, listeners
from tests.integration.test_systemd_units import INSTALLED_TWISTD, TWISTD, UNITS, environment, parse_unit, values

INSTANCE = "8001"


class TemplateAnalyzeTests(TestCase):
    """``systemd-analyze`` on instance 8001 of copies of the templates (ExecStart: the twistd beside sys.executable)."""

    def setUp(self):
        self.tool = shutil.which("systemd-analyze")
        if self.tool is None:
            self.fail("systemd-analyze not found: install Debian's systemd package (.ci/run does)")
        self.directory = tempfile.mkdtemp(prefix="rpsa-cluster-units-")
        self.addCleanup(shutil.rmtree, self.directory)
        for name in ("rpsa@.service", "rpsa@.socket"):
            with open(os.path.join(UNITS, name), encoding="utf-8") as f:
                text = f.read().replace(f"\nExecStart={INSTALLED_TWISTD} ", f"\nExecStart={TWISTD} ")
            with open(os.path.join(self.directory, name), "w", encoding="utf-8") as f:
                f.write(text)

    def analyze(self, *args):
        proc = subprocess.run([self.tool, *args], cwd=self.directory, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"})
        return proc.returncode, proc.stdout + proc.stderr

    def verify(self):
        return self.analyze("verify", "--man=no", *(os.path.join(self.directory, f"rpsa@{INSTANCE}.{kind}")
                                                    for kind in ("socket", "service")))

    def test_verify(self):
        status, output = self.verify()
        self.assertEqual(status, 0, output)
        self.assertEqual([line for line in output.splitlines() if "rpsa" in line], [], output)

    def test_verify_reads_the_templates(self):
        path = os.path.join(self.directory, "rpsa@.service")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("\nKillMode=mixed\n", "\nKilMode=mixed\n"))
        self.assertIn("KilMode", self.verify()[1])

    def test_security_exposure(self):
        status, output = self.analyze("security", "--offline=yes", "--threshold=20", "--no-pager",
                                      os.path.join(self.directory, f"rpsa@{INSTANCE}.service"))
        self.assertEqual(status, 0, output)


class TemplateTests(TestCase):
    """What an instance gets: its port, its name, the shared settings."""

    def setUp(self):
        self.service = parse_unit(os.path.join(UNITS, "rpsa@.service"))
        self.socket = parse_unit(os.path.join(UNITS, "rpsa@.socket"))
        self.main = self.service["Service"]

    def test_instance_n_listens_on_loopback_port_n_through_its_socket(self):
        self.assertEqual(values(self.socket["Socket"], "ListenStream"), ["127.0.0.1:%i"])
        [name] = values(self.socket["Socket"], "FileDescriptorName")
        kind, _, kwargs = listeners.split_endpoint(environment(self.main)["RPSA_LISTEN"])
        self.assertEqual((kind, kwargs["name"], kwargs["domain"]), ("systemd", name, "INET"))
        self.assertIn("rpsa@%i.socket", values(self.service["Unit"], "Requires"))

    def test_each_instance_has_its_own_node_name_and_the_shared_settings(self):
        self.assertEqual(environment(self.main)["RPSA_NODE_NAME"], "%H-%i")
        self.assertEqual(values(self.main, "EnvironmentFile"), ["/etc/rpsa/cluster.env"])
        self.assertIn("redis-server.service", " ".join(values(self.service["Unit"], "Wants")))

    def test_the_same_service_settings_as_rpsa_service_otherwise(self):
        single = parse_unit(os.path.join(UNITS, "rpsa.service"))["Service"]
        differ = {"Environment", "EnvironmentFile", "SyslogIdentifier"}
        self.assertEqual([kv for kv in single if kv[0] not in differ], [kv for kv in self.main if kv[0] not in differ])


class ClusterEnvironmentFileTests(TestCase):
    """systemd/rpsa-cluster.env: every setting names an option, and the values shown parse."""

    def setUp(self):
        with open(os.path.join(UNITS, "rpsa-cluster.env"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        self.settings = [m.groups() for m in (re.fullmatch(r"#?(RPSA_\w+)=(.*)", line) for line in lines) if m]

    def test_names_are_options(self):
        table = envconfig.env_options()
        self.assertEqual([name for name, _ in self.settings if name not in table], [])

    def test_an_instance_with_these_settings_parses(self):
        env = dict(self.settings, RPSA_LISTEN="tcp:8001:interface=127.0.0.1", RPSA_NODE_NAME="host-8001", RPSA_DEV="yes")
        options = envconfig.options_from_env(env)
        self.assertEqual(options["public-url"], "https://games.example.com/n/host-8001")
        self.assertEqual(options["node-name"], "host-8001")
