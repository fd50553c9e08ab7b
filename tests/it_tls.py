"""HTTPS and HTTP/2 against a real server: Debian's nginx on loopback with a
self-signed certificate made for the test. Certificate verification is on
by default (an untrusted certificate is a tls error), -k turns it off, and
HTTP/2 is used where the server offers it (seen in nginx's access log)."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from spatetest import check, fetch, finish, one

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    if not os.path.exists(NGINX):
        check(False, "nginx is not installed (scripts/install-deps installs it)")
        return
    d = tempfile.mkdtemp(prefix="spate-tls-")
    os.chmod(d, 0o755)  # nginx's workers run as an unprivileged user
    nginx = None
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem"],
                       check=True, capture_output=True, timeout=60)
        os.makedirs(f"{d}/www")
        for i in range(5):
            with open(f"{d}/www/{i}.html", "w") as f:
                f.write(f"<html><head><title>tls {i}</title></head>"
                        f"<body><a href=/{i + 1}.html>n</a></body></html>")
        port = free_port()
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
  log_format p '$server_protocol $request_uri';
  access_log {d}/access.log p;
  server {{
    listen 127.0.0.1:{port} ssl http2;
    ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem;
    root {d}/www;
    default_type text/html;
  }}
}}
""")
        nginx = subprocess.Popen([NGINX, "-c", f"{d}/nginx.conf", "-p", d],
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        urls = [f"https://127.0.0.1:{port}/{i}.html" for i in range(5)]
        # The certificate is self-signed: refused unless -k.
        code, res, lines, err = fetch(urls[:1], "--retries", "0")
        r = one(res, urls[0])
        check(r and r["error"] == "tls", f"untrusted certificate: {r}")
        code, res, lines, err = fetch(urls, "-k")
        check(code == 0, f"exit {code}: {err}")
        for i, u in enumerate(urls):
            r = one(res, u)
            check(r and r["status"] == 200 and r["title"] == f"tls {i}",
                  f"{u}: {r}")
        with open(f"{d}/access.log") as f:
            protos = [l.split()[0] for l in f if l.strip()]
        check(len(protos) == 5 and all(p == "HTTP/2.0" for p in protos),
              f"protocols seen by nginx: {protos}")
    finally:
        if nginx and nginx.poll() is None:
            nginx.send_signal(signal.SIGTERM)
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                nginx.kill()
        shutil.rmtree(d, ignore_errors=True)


main()
finish("it_tls")
