"""A real cluster for tests: a redis-server, several ``twistd -n rpsa --redis`` nodes, and optionally nginx in front.

    redis = yield start_redis(self)
    nodes = yield start_nodes(self, redis, ["a", "b", "c"])      # stopped (exit 0) by the cleanup
    proxy = yield start_nginx(self, nodes)                       # contrib/nginx/rpsa-cluster.conf, no TLS

Every process is started on free 127.0.0.1 ports and stopped by the test's cleanup.
"""

import os
import shutil
import signal

import treq
from twisted.internet import defer, reactor, task

import tests
from tests.support.process import Daemon, _DaemonProtocol, free_port
from tests.support.wsclient import connect, of_type, start_match

SITE = os.path.abspath(os.path.join(os.path.dirname(tests.__file__), "..", "contrib", "nginx", "rpsa-cluster.conf"))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FAST = ("--tick", "0.02", "--reconnect-grace", "5")
GAME_COMPLETE = 1


class Node(Daemon):
    """A ``twistd -n rpsa`` cluster node named ``name``; ``public`` builds its ``--public-url`` from its port."""

    def __init__(self, reactor, name, redis_url, args=(), public=None):
        self.name = name
        self._cluster_args = ["--redis", redis_url, "--node-name", name, *args]
        self._public = public
        super().__init__(reactor, list(FAST))

    def command(self, twistd_argv, env):
        args = list(self._cluster_args)
        if self._public is not None:
            args += ["--public-url", self._public(self)]
        return twistd_argv[0], twistd_argv + args


@defer.inlineCallbacks
def play_game(host_url, guest_url, clients_close=False):
    """The host and the guest connect and play (rock beats scissors: the host wins); fires with
    ``(GAME_COMPLETE's data, close codes)``.  ``clients_close``: the clients close after GAME_COMPLETE (the
    original's routes keep a finished game's sockets open), else they wait for the server's close."""
    host = yield connect(reactor, host_url)
    yield host.wait_for(of_type("player_joined"))
    guest = yield connect(reactor, guest_url)
    yield guest.wait_for(of_type("player_joined"))
    start_match([(host, "aru"), (guest, "mai")], throws=(0, 2))
    complete = yield host.wait_for(of_type("RPSGameEvent", event=GAME_COMPLETE))
    yield guest.wait_for(of_type("RPSGameEvent", event=GAME_COMPLETE))
    if clients_close:
        for client in (host, guest):
            client.sendClose(1000)
    codes = yield defer.gatherResults([host.closed, guest.closed])
    return complete["eventData"]["data"], codes


@defer.inlineCallbacks
def start_nodes(testcase, redis, names, args=(), public=None):
    """Start a node per name, wait until each answers and sees all the others; cleanup stops them (exit 0)."""
    nodes = [Node(reactor, name, redis.url, args, public) for name in names]
    for node in nodes:
        testcase.addCleanup(_stopped_cleanly, testcase, node)
    for node in nodes:
        yield node.ready()
    yield all_see(nodes, len(nodes))
    return nodes


@defer.inlineCallbacks
def all_see(nodes, count, attempts=200):
    """Wait (at most ``attempts`` × 0.1 s) until every one of ``nodes`` sees ``count`` live nodes."""
    for _ in range(attempts):
        seen = yield defer.gatherResults([nodes_seen(n) for n in nodes])
        if all(s == count for s in seen):
            return
        yield task.deferLater(reactor, 0.1, lambda: None)
    raise AssertionError(f"the nodes do not all see {count} nodes: {seen}")


@defer.inlineCallbacks
def polled(node, path, wanted, attempts=100, step=0.05):
    """``(status, body)`` of ``GET path`` on ``node`` once ``wanted(status, body)`` is true, or the last one after
    ``attempts`` polls ``step`` seconds apart (an owner writes its changes within 50 ms; a node finds Redis gone
    or back within a second or two)."""
    for _ in range(attempts):
        status, body = yield node.request("GET", path)
        if wanted(status, body):
            break
        yield task.deferLater(reactor, step, lambda: None)
    return status, body


def listing(node, wanted, attempts=100):
    """``node``'s ``GET /api/games`` list once ``wanted(games)`` is true (see :func:`polled`)."""
    d = polled(node, "/api/games", lambda status, body: wanted(body["games"]), attempts)
    return d.addCallback(lambda answer: answer[1]["games"])


@defer.inlineCallbacks
def nodes_seen(node):
    """The live nodes ``node`` reports in ``/metrics`` (``rpsa_cluster_nodes``)."""
    response = yield treq.get(f"{node.url}/metrics", timeout=5, persistent=False)
    text = (yield response.content()).decode()
    for line in text.splitlines():
        if line.startswith("rpsa_cluster_nodes "):
            return int(float(line.split()[1]))
    return 0


@defer.inlineCallbacks
def _stopped_cleanly(testcase, node):
    if node.proto.ended.called:
        return
    exit_code, signal = yield node.stop()
    testcase.assertEqual((exit_code, signal), (0, None), node.log)


class Proxy:
    """A running nginx with the shipped site, on ``port``; ``url`` is its base."""

    def __init__(self, directory, port, proto, process):
        self.directory = directory
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_base = f"ws://127.0.0.1:{port}"
        self._proto = proto
        self._process = process

    @property
    def log(self):
        text = b"".join(self._proto.output).decode("utf-8", "replace")
        error_log = os.path.join(self.directory, "error.log")
        if os.path.exists(error_log):
            with open(error_log, encoding="utf-8", errors="replace") as f:
                text += f.read()
        return text

    @defer.inlineCallbacks
    def stop(self, timeout=10):
        if self._proto.ended.called:
            return
        self._process.signalProcess(signal.SIGQUIT)  # a graceful shutdown
        timer = reactor.callLater(timeout, lambda: None if self._proto.ended.called else
                                  self._process.signalProcess("KILL"))
        yield self._proto.ended
        if timer.active():
            timer.cancel()


def site_for_test(text, port, node_ports, match_ports="[0-9]+"):
    """The shipped site with plain HTTP on ``port`` (no TLS, no redirect) and the test's nodes."""
    lines, skipping = [], False
    for line in text.splitlines():
        if "# rpsa-redirect-begin" in line:
            skipping = True
        if skipping:
            skipping = "# rpsa-redirect-end" not in line
            continue
        if "# rpsa-tls" in line:
            continue
        if "# rpsa-listen" in line:
            if "[::]" not in line:
                lines.append(f"    listen 127.0.0.1:{port};")
            continue
        if "# rpsa-node" in line and "server " in line:
            continue
        if line.strip().startswith("upstream rpsa_nodes"):
            lines.append(line)
            lines += [f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in node_ports]
            continue
        if "# rpsa-nodes" in line:
            line = line.replace("(8[0-9][0-9][0-9])", "(" + "|".join(str(p) for p in node_ports) + ")")
        if "# rpsa-matches" in line:
            line = line.replace("(9[0-9][0-9][0-9])", f"({match_ports})")
        lines.append(line)
    return "\n".join(lines) + "\n"


MAIN = """\
{user}worker_processes 1;
error_log {dir}/error.log notice;
pid {dir}/nginx.pid;
events {{ worker_connections 512; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/site.conf;
}}
"""


@defer.inlineCallbacks
def start_nginx(testcase, nodes, port=None, match_ports="[0-9]+"):
    """nginx with the shipped site (contrib/nginx/rpsa-cluster.conf) in front of ``nodes`` on ``port`` (default:
    a free one); the cleanup stops it."""
    directory = os.path.abspath(testcase.mktemp())
    os.makedirs(directory)
    port = port or free_port()
    with open(SITE, encoding="utf-8") as f:
        site = site_for_test(f.read(), port, [n.port for n in nodes], match_ports)
    with open(os.path.join(directory, "site.conf"), "w", encoding="utf-8") as f:
        f.write(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    with open(os.path.join(directory, "nginx.conf"), "w", encoding="utf-8") as f:
        f.write(MAIN.format(dir=directory, user=user))
    proto = _DaemonProtocol()  # records the output, fires ``ended``
    argv = [NGINX, "-p", directory, "-c", os.path.join(directory, "nginx.conf"), "-g", "daemon off;"]
    process = reactor.spawnProcess(proto, argv[0], argv, env={})
    proxy = Proxy(directory, port, proto, process)
    testcase.addCleanup(proxy.stop)

    for _ in range(100):
        if proto.ended.called:
            raise RuntimeError(f"nginx exited:\n{proxy.log}")
        try:
            response = yield treq.get(f"{proxy.url}/healthz", timeout=2, persistent=False)
            yield response.content()
            return proxy
        except Exception:
            yield task.deferLater(reactor, 0.1, lambda: None)
    raise RuntimeError(f"nginx did not answer:\n{proxy.log}")
