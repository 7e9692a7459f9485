"""Stand-ins for the cluster's unit tests: a Redis connection whose commands the test answers, and script calls."""

from rpsa.cluster import scripts
from tests.redis.fakes import FakeConnection

SCRIPT_NAMES = {script.sha: name for name, script in vars(scripts).items() if isinstance(script, scripts.Script)}


class ScriptConnection(FakeConnection):
    """A FakeConnection that names the cluster scripts it is asked to run."""

    url = None

    def script_calls(self):
        """``[(script name, ARGV after the prefix, Deferred)]`` of the EVALSHA calls so far."""
        found = []
        for args, d in self.calls:
            if args[0] == "EVALSHA" and args[1] in SCRIPT_NAMES:
                found.append((SCRIPT_NAMES[args[1]], list(args[4:]), d))
        return found

    def take(self, name):
        """The oldest unanswered call of script ``name``: ``(ARGV after the prefix, Deferred)``; removed from calls."""
        for i, (args, d) in enumerate(self.calls):
            if args[0] == "EVALSHA" and SCRIPT_NAMES.get(args[1]) == name:
                del self.calls[i]
                return list(args[4:]), d
        raise AssertionError(f"no call of {name}: {[c[0][:2] for c in self.calls]}")

    def take_command(self, command):
        """The oldest unanswered plain command ``command``: ``(args, Deferred)``; removed from calls."""
        for i, (args, d) in enumerate(self.calls):
            if args[0] == command:
                del self.calls[i]
                return list(args), d
        raise AssertionError(f"no {command}: {[c[0][:2] for c in self.calls]}")
