"""Shared pieces of the integration tests: start `spate origin` on an
ephemeral loopback port, run `spate fetch`, read its JSON lines."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

SPATE = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/spate"
FAILURES = []


def check(cond, what):
    """Records a failed expectation; the test exits non-zero at the end."""
    if not cond:
        FAILURES.append(what)
        print("FAIL:", what, file=sys.stderr, flush=True)
    return cond


def finish(name):
    if FAILURES:
        print(f"{name}: {len(FAILURES)} failed", file=sys.stderr)
        sys.exit(1)
    print(f"{name}: ok", file=sys.stderr)
    sys.exit(0)


class Origin:
    """`spate origin` on 127.0.0.1 with an ephemeral port and a request
    log, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, pages=200, latency=0, extra=(), port=0):
        self.log = tempfile.NamedTemporaryFile(prefix="spate-origin-",
                                               suffix=".log", delete=False)
        self.log.close()
        args = [SPATE, "origin", "--port", str(port), "--pages", str(pages),
                "--log", self.log.name, "--quiet"]
        if latency:
            args += ["--latency", str(latency)]
        self.proc = subprocess.Popen(list(args) + list(extra),
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://([\d.]+):(\d+)/", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"origin did not start: {line!r}")
        self.port = int(m.group(2))
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path):
        return self.base + path

    def requests(self):
        """[(time_s, method, path)] from the request log."""
        out = []
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(" ", 3)
                if len(parts) >= 3:
                    out.append((float(parts[0]), parts[1], parts[2]))
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.unlink(self.log.name)


def fetch(urls, *opts, stdin_text=None, timeout=120):
    """Runs spate fetch with URLs on stdin; returns (exit code, results
    keyed by url, raw lines, stderr)."""
    text = stdin_text if stdin_text is not None else "".join(
        u + "\n" for u in urls)
    p = subprocess.run([SPATE, "fetch", "--no-progress"] + list(opts),
                       input=text, capture_output=True, text=True,
                       timeout=timeout)
    lines = [l for l in p.stdout.split("\n") if l]
    results = {}
    for l in lines:
        r = json.loads(l)
        results.setdefault(r["url"], []).append(r)
    return p.returncode, results, lines, p.stderr


def one(results, url):
    """The single result for url (None, and a failure, otherwise)."""
    got = results.get(url, [])
    check(len(got) == 1, f"{url}: {len(got)} results, want exactly 1")
    return got[0] if got else None


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def make_cert(d, name="cert", san="IP:127.0.0.1,DNS:localhost"):
    """A self-signed certificate for san (by default 127.0.0.1 and
    localhost) in d: (cert path, key path)."""
    cert, key = os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", "/CN=spate test",
                    "-addext", f"subjectAltName={san}",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class ThreadedServer:
    """A loopback TCP server for tests: each connection is handed to
    serve(sock) on a thread of its own."""

    def __init__(self):
        import threading
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import threading
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,),
                             daemon=True).start()

    def serve(self, c):
        c.close()

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class TLSProxy(ThreadedServer):
    """A TLS terminator on 127.0.0.1 in front of a plain TCP port (say the
    origin's /stream, for wss://): each connection is decrypted and passed
    on both ways, byte for byte."""

    def __init__(self, target_port, cert, key):
        import ssl
        self.target = target_port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.handshakes = 0
        self.failures = 0
        super().__init__()

    def serve(self, c):
        import threading
        try:
            c.settimeout(10)
            t = self.ctx.wrap_socket(c, server_side=True)
            t.settimeout(None)
            self.handshakes += 1
        except OSError:
            self.failures += 1
            c.close()
            return
        try:
            u = socket.create_connection(("127.0.0.1", self.target), 5)
        except OSError:
            t.close()
            return

        def pump(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(u, t), daemon=True).start()
        pump(t, u)
