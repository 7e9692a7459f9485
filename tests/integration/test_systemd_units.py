"""systemd/rpsa.service, rpsa.socket and rpsa.env: ``systemd-analyze`` accepts them and they agree with rpsa.

``systemd-analyze`` is required (Debian's ``systemd`` package; ``.ci/run``
installs it): without it these tests fail rather than skip.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SynchronousTestCase as TestCase

import tests
from rpsa.daemon import envconfig
from rpsa.daemon import listeners
from rpsa.daemon.tap import Options

UNITS = os.path.abspath(os.path.join(os.path.dirname(tests.__file__), "..", "systemd"))
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")
INSTALLED_TWISTD = "/opt/rpsa/venv/bin/twistd"
CLOSING_SECONDS = 10  # after the drain: connections closed (5 s), match children stopped (5 s)


def parse_unit(path):
    """``{section: [(key, value), ...]}`` of a unit file (keys may repeat; no line continuations used)."""
    sections, current = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = sections.setdefault(line[1:-1], [])
                continue
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def values(section, key):
    """Every value of ``key`` in a parsed section, in order."""
    return [v for k, v in section if k == key]


def environment(section):
    """The Environment= assignments of a parsed [Service] section, as a dict."""
    env = {}
    for value in values(section, "Environment"):
        for assignment in value.split():
            name, _, setting = assignment.partition("=")
            env[name] = setting
    return env


def seconds(text):
    """A plain systemd time span (``45``, ``45s``, ``2min``) in seconds."""
    match = re.fullmatch(r"(\d+)\s*(s|sec|min|m)?", text)
    if match is None:
        raise ValueError(f"unsupported time span {text!r}")
    return int(match.group(1)) * (60 if match.group(2) in ("min", "m") else 1)


class SystemdAnalyzeTests(TestCase):
    """``systemd-analyze`` on copies of the units whose ExecStart runs the twistd beside sys.executable."""

    def setUp(self):
        self.analyze = shutil.which("systemd-analyze")
        if self.analyze is None:
            self.fail("systemd-analyze not found: install it with "
                      "`apt-get update && apt-get install -y --no-install-recommends systemd` (.ci/run does)")
        self.assertTrue(os.access(TWISTD, os.X_OK), f"{TWISTD} missing: install rpsa with pip install .")
        self.directory = tempfile.mkdtemp(prefix="rpsa-units-")
        self.addCleanup(shutil.rmtree, self.directory)
        for name in ("rpsa.service", "rpsa.socket"):
            with open(os.path.join(UNITS, name), encoding="utf-8") as f:
                text = f.read()
            if name == "rpsa.service":
                self.assertIn(f"\nExecStart={INSTALLED_TWISTD} ", text)
                text = text.replace(f"\nExecStart={INSTALLED_TWISTD} ", f"\nExecStart={TWISTD} ")
            with open(os.path.join(self.directory, name), "w", encoding="utf-8") as f:
                f.write(text)

    def _analyze(self, *args):
        """Run systemd-analyze in the copies' directory; ``(exit status, output)``."""
        proc = subprocess.run(
            [self.analyze, *args], cwd=self.directory, capture_output=True, text=True, timeout=120,
            env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"},
        )
        return proc.returncode, proc.stdout + proc.stderr

    def _verify(self, *names):
        return self._analyze("verify", "--man=no", *(os.path.join(self.directory, n) for n in names))

    def test_verify(self):
        """systemd-analyze verify passes on both units, without a warning about either."""
        status, output = self._verify("rpsa.socket", "rpsa.service")
        self.assertEqual(status, 0, output)
        # Unknown keys and bad values are warnings with exit status 0: none may name our units.
        complaints = [line for line in output.splitlines() if "rpsa" in line]
        self.assertEqual(complaints, [], output)

    def test_verify_catches_mistakes(self):
        """The check has teeth: a misspelt key in a copy is reported by name."""
        path = os.path.join(self.directory, "rpsa.service")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("\nKillMode=mixed\n", "\nKilMode=mixed\n"))
        status, output = self._verify("rpsa.socket", "rpsa.service")
        self.assertIn("KilMode", output)

    def test_security_exposure(self):
        """systemd-analyze security rates the sandbox at an exposure of 2.0 or less (of 10)."""
        # --threshold counts in tenths of the exposure level printed: 20 is 2.0.
        status, output = self._analyze("security", "--offline=yes", "--threshold=20", "--no-pager",
                                   os.path.join(self.directory, "rpsa.service"))
        self.assertEqual(status, 0, output)


class ServiceUnitTests(TestCase):
    """rpsa.service and rpsa.socket say what rpsa needs."""

    def setUp(self):
        self.service = parse_unit(os.path.join(UNITS, "rpsa.service"))
        self.socket = parse_unit(os.path.join(UNITS, "rpsa.socket"))
        self.main = self.service["Service"]

    def test_notify(self):
        """Type=notify, accepted from twistd itself only."""
        self.assertEqual(values(self.main, "Type"), ["notify"])
        self.assertEqual(values(self.main, "NotifyAccess"), ["main"])

    def test_exec_start_runs_the_tac(self):
        """ExecStart runs twistd in the foreground, without a pid file, on rpsa.tac."""
        [command] = values(self.main, "ExecStart")
        argv = command.split()
        self.assertEqual(argv[0], INSTALLED_TWISTD)
        self.assertIn("--nodaemon", argv)
        self.assertIn("--pidfile=", argv)
        self.assertIn("--python=/opt/rpsa/rpsa.tac", argv)

    def test_listens_on_the_named_socket(self):
        """RPSA_LISTEN adopts the socket unit's FileDescriptorName, an exposed listener needing the API key."""
        [name] = values(self.socket["Socket"], "FileDescriptorName")
        listen = environment(self.main)["RPSA_LISTEN"]
        kind, args, kwargs = listeners.split_endpoint(listen)
        self.assertEqual((kind, kwargs.get("name")), ("systemd", name))
        self.assertFalse(listeners.is_local(listen))
        self.assertIn("api-key:/etc/rpsa/api-key", values(self.main, "LoadCredential"))
        self.assertEqual(environment(self.main)["RPSA_API_KEY_FILE"], "%d/api-key")

    def test_domain_matches_listen_stream(self):
        """domain=INET6 goes with a port-only (dual-stack) ListenStream, INET with an IPv4 address."""
        [stream] = values(self.socket["Socket"], "ListenStream")
        domain = listeners.split_endpoint(environment(self.main)["RPSA_LISTEN"])[2]["domain"]
        ipv4 = re.fullmatch(r"\d+\.\d+\.\d+\.\d+:\d+", stream) is not None
        self.assertEqual(domain, "INET" if ipv4 else "INET6", stream)
        if not ipv4:
            self.assertEqual(values(self.socket["Socket"], "BindIPv6Only"), ["both"])

    def test_socket_activates_the_service(self):
        """The service requires its socket and starts after it."""
        unit = self.service["Unit"]
        self.assertIn("rpsa.socket", " ".join(values(unit, "Requires")).split())
        self.assertIn("rpsa.socket", " ".join(values(unit, "After")).split())
        self.assertEqual(values(self.socket["Socket"], "Accept"), ["no"])

    def test_stop_outlasts_drain(self):
        """TimeoutStopSec leaves the default --drain-timeout and the closing that follows time to finish."""
        drain = Options()
        drain.parseOptions([])
        [timeout] = values(self.main, "TimeoutStopSec")
        self.assertGreaterEqual(seconds(timeout), drain["drain-timeout"] + CLOSING_SECONDS)
        self.assertEqual(values(self.main, "KillMode"), ["mixed"])
        self.assertEqual(values(self.main, "Restart"), ["on-failure"])

    def test_sandbox(self):
        """The sandboxing settings the deployment relies on are all there."""
        expected = {
            "DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
            "NoNewPrivileges": "yes", "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
            "CapabilityBoundingSet": "",
        }
        for key, value in expected.items():
            self.assertEqual(values(self.main, key), [value], key)
        self.assertIn("@system-service", values(self.main, "SystemCallFilter"))

    def test_environment_file(self):
        """Settings come from the optional /etc/rpsa/rpsa.env."""
        self.assertEqual(values(self.main, "EnvironmentFile"), ["-/etc/rpsa/rpsa.env"])


class EnvironmentFileTests(TestCase):
    """systemd/rpsa.env, the example EnvironmentFile."""

    def setUp(self):
        with open(os.path.join(UNITS, "rpsa.env"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        # Settings, commented out (#RPSA_X=...) or not.
        self.settings = [m.groups() for m in (re.fullmatch(r"#?(RPSA_\w+)=(.*)", line) for line in lines) if m]

    def test_names_are_options(self):
        """Every RPSA_* setting shown names an option (a typo here would stop the service)."""
        table = envconfig.env_options()
        self.assertTrue(self.settings)
        self.assertEqual([name for name, _ in self.settings if name not in table], [])

    def test_values_parse(self):
        """The values shown, all uncommented, are accepted by rpsa."""
        options = envconfig.options_from_env(dict(self.settings))
        self.assertEqual(options["public-url"], dict(self.settings)["RPSA_PUBLIC_URL"])
        self.assertEqual(options["dev"], 0)

    def test_defaults_shown_are_defaults(self):
        """A value shown as the default is the option's default."""
        table = envconfig.env_options()
        defaults = {p[0]: p[2] for p in Options.optParameters}
        for name, value in self.settings:
            option = table[name].option
            if option in defaults and defaults[option] is not None:
                self.assertEqual(value, str(defaults[option]), name)
