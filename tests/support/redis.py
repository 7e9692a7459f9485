"""A real ``redis-server`` for tests: free port, no persistence, stoppable and restartable mid-test.

    server = yield start_redis(self)            # stopped by the test's cleanup
    yield server.command("XLEN", "game_event_stream")
    yield server.stop(); yield server.start()   # an outage, then the same address again

The server is Debian's ``redis-server`` (``.ci/run`` installs it when missing), started with
``--save '' --appendonly no`` in a fresh directory, on 127.0.0.1 only; optionally with a
password, a Unix socket, and a TLS port (certificates from :func:`make_tls_files`).
:meth:`RedisServer.command` opens its own plain connection per call, so it works across
restarts and is independent of the code under test.
"""

import datetime
import os
import shutil
import tempfile

from twisted.internet import defer, protocol, reactor

from tests.support.process import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
READY = b"Ready to accept connections"


class _ServerProtocol(protocol.ProcessProtocol):
    def __init__(self):
        self.output = []
        self.ready = defer.Deferred()
        self.ended = defer.Deferred()

    def outReceived(self, data):
        self.output.append(data)
        if not self.ready.called and READY in b"".join(self.output):
            self.ready.callback(None)

    errReceived = outReceived

    def processEnded(self, reason):
        if not self.ready.called:
            self.ready.errback(RuntimeError("redis-server exited:\n" + b"".join(self.output).decode("utf-8", "replace")))
        self.ended.callback(None)


class RedisServer:
    """One ``redis-server`` process (restartable on the same port and socket)."""

    def __init__(self, directory, password=None, unix_socket=False, tls=None):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.password = password
        self.port = free_port()
        # A socket path must stay under 108 bytes: a short directory of its own (removed by stop()).
        self._socket_dir = tempfile.mkdtemp(prefix="rpsa-redis-") if unix_socket else None
        self.unix_path = os.path.join(self._socket_dir, "redis.sock") if unix_socket else None
        self.tls = tls  # {"cert", "key", "ca"} file paths, or None
        self.tls_port = free_port() if tls else None
        self._proto = None
        self._process = None

    @property
    def url(self):
        """A ``redis://`` URL for this server (with its password)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self):
        return self._proto is not None and not self._proto.ended.called

    @property
    def log(self):
        return b"".join(self._proto.output).decode("utf-8", "replace") if self._proto else ""

    def argv(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.directory, "--daemonize", "no", "--loglevel", "notice", "--logfile", ""]
        if self.password:
            args += ["--requirepass", self.password]
        if self.unix_path:
            args += ["--unixsocket", self.unix_path, "--unixsocketperm", "700"]
        if self.tls:
            args += ["--tls-port", str(self.tls_port), "--tls-cert-file", self.tls["cert"],
                     "--tls-key-file", self.tls["key"], "--tls-ca-cert-file", self.tls["ca"],
                     "--tls-auth-clients", "no"]
        return args

    def start(self, timeout=15):
        """Start the server; fires once it accepts connections (fails after ``timeout`` seconds)."""
        assert not self.running
        self._proto = _ServerProtocol()
        argv = self.argv()
        self._process = reactor.spawnProcess(self._proto, argv[0], argv, env={})
        ready = self._proto.ready
        ready.addTimeout(timeout, reactor)
        return ready

    @defer.inlineCallbacks
    def stop(self, timeout=10):
        """SIGTERM (``SIGKILL`` after ``timeout`` seconds); fires once the process is gone."""
        if not self.running:
            return
        ended = self._proto.ended
        self._process.signalProcess("TERM")
        timer = reactor.callLater(timeout, self._kill)
        yield ended
        if timer.active():
            timer.cancel()

    def remove_files(self):
        """Remove the socket's directory (the data directory is the test's own)."""
        if self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    def _kill(self):
        if self.running:
            self._process.signalProcess("KILL")

    @defer.inlineCallbacks
    def restart(self):
        yield self.stop()
        yield self.start()

    @defer.inlineCallbacks
    def command(self, *args):
        """Run one command on a fresh plain connection; fires with its reply."""
        import txredisapi

        client = yield protocol.ClientCreator(reactor, txredisapi.RedisProtocol, convertNumbers=False).connectTCP(
            "127.0.0.1", self.port, timeout=5)
        try:
            if self.password:
                yield client.execute_command("AUTH", self.password)
            reply = yield client.execute_command(*args)
        finally:
            client.transport.loseConnection()
        return reply

    @defer.inlineCallbacks
    def entries(self, stream):
        """Every entry of ``stream`` as a list of field/value lists, oldest first."""
        reply = yield self.command("XRANGE", stream, "-", "+")
        return [fields for _id, fields in reply or []]


@defer.inlineCallbacks
def start_redis(testcase, **options):
    """A started :class:`RedisServer` that ``testcase``'s cleanup stops."""
    server = RedisServer(os.path.abspath(testcase.mktemp()), **options)
    testcase.addCleanup(server.remove_files)
    testcase.addCleanup(server.stop)
    yield server.start()
    return server


def make_tls_files(directory, hostname="localhost"):
    """A CA and a server certificate for ``hostname`` (and 127.0.0.1), as PEM files; also a stranger CA.

    Returns ``{"ca", "cert", "key", "other_ca"}`` paths.
    """
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = os.path.abspath(directory)
    os.makedirs(directory, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def ca(name):
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        return key, cert

    ca_key, ca_cert = ca("rpsa test CA")
    _, other_cert = ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {name: os.path.join(directory, f"{name}.pem") for name in ("ca", "cert", "key", "other_ca")}
    pem = serialization.Encoding.PEM
    with open(paths["ca"], "wb") as f:
        f.write(ca_cert.public_bytes(pem))
    with open(paths["other_ca"], "wb") as f:
        f.write(other_cert.public_bytes(pem))
    with open(paths["cert"], "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(paths["key"], "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths
