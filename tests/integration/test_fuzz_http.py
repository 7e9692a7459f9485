"""Fuzzing: schemathesis against a live daemon, every operation of the OpenAPI document it serves.

Positive and negative cases for every operation (bounded per operation), then
stateful sequences along the document's links (create a game, then get, join
or remove it; launch a match, then get or stop it).  Checks: no 5xx, every
status documented, every body conforming to its schema, invalid requests
refused, 405 with ``Allow`` for methods a route does not take.

The run is bounded for CI (``RPSA_FUZZ_EXAMPLES`` per operation, default 25:
about a minute); a longer local run is in the README.  The seed is printed
(and is in the failure message) so a failure can be replayed:
``RPSA_FUZZ_SEED=<seed> python -m twisted.trial tests.integration.test_fuzz_http``.
"""

import os
import random
import sys

from twisted.internet import defer, reactor, utils
from twisted.logger import Logger

from tests.support.process import DaemonTestCase, child_env, free_port_range

log = Logger()

EXAMPLES = int(os.environ.get("RPSA_FUZZ_EXAMPLES", "25"))
SEED = int(os.environ.get("RPSA_FUZZ_SEED") or random.SystemRandom().randrange(2 ** 31))

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance,negative_data_rejection,unsupported_method,allow_header_conformance,"
          "ensure_resource_availability")


class FuzzHTTPTests(DaemonTestCase):

    timeout = 600

    def make_daemon(self):
        low, high = free_port_range(16)
        # A long launch timeout: on a loaded machine a child may take seconds to start, and a 504
        # launch_timeout is a 5xx (documented, but the fuzzer's "no 5xx" check counts it).  Room for
        # 16 matches at once for the same reason: the fuzzing phase launches a match with each valid
        # PUT, each lives until its join timeout, and a 503 too_many_matches counts as a 5xx too.
        self.daemon_args = ("--match-ports", f"{low}-{high}", "--max-matches", "16", "--match-join-timeout", "2",
                            "--max-games", "200", "--launch-timeout", "60")
        return super().make_daemon()

    @defer.inlineCallbacks
    def test_every_operation(self):
        command = ["-m", "schemathesis.cli", "run", f"{self.daemon.url}/openapi.json",
                   "--checks", CHECKS, "--max-examples", str(EXAMPLES), "--seed", str(SEED),
                   "--generation-database", "none", "--no-color", "--workers", "1",
                   "--request-timeout", "75", "--suppress-health-check", "all"]
        replay = f"RPSA_FUZZ_SEED={SEED} RPSA_FUZZ_EXAMPLES={EXAMPLES}"
        log.info("fuzzing the HTTP API: {replay}", replay=replay)
        print(f"\nschemathesis: seed {SEED}, {EXAMPLES} examples per operation ({replay})", file=sys.__stderr__)
        out, err, code = yield utils.getProcessOutputAndValue(
            sys.executable, command, env=child_env(SCHEMATHESIS_HOOKS=""), path=self._trial_temp_dir(), reactor=reactor)
        output = (out + err).decode("utf-8", "replace")
        summary = [line for line in output.splitlines() if "generated" in line or "Seed" in line or "passed" in line]
        print("\n".join(summary), file=sys.__stderr__)
        self.assertEqual(code, 0, f"schemathesis found problems ({replay}):\n{output[-20000:]}")

    def _trial_temp_dir(self):
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        return path
