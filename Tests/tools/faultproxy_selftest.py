#!/usr/bin/env python3
"""Self-test of faultproxy.py (stdlib only).

    python3 Tests/tools/faultproxy_selftest.py [-v]

Starts a small upstream HTTP server (http.server, free port, data in a temp dir) and
faultproxy.py as a subprocess in front of it, then checks forwarding (raw path/query,
Host and other headers byte for byte, keep-alive, 20 MiB streamed PUT/GET, chunked and
close-delimited upstream bodies, Expect: 100-continue, chunked request bodies), every
action, the rule matching (method/path/nth/times), X-Storage-Url rewriting, the control
endpoints, the access log (memory and --log file), --random with --seed, 502 on a dead
upstream, and a clean exit on SIGTERM.
TLS: certificates from make-test-ca.sh (idempotent, quiet, fails clearly without openssl),
the proxy with --tls-cert/--tls-key in front of the same upstream: verified GET/5 MiB PUT,
TLS >= 1.2, a client trusting only another CA fails verification, broken/stalled handshakes
and plain HTTP neither crash, block nor get logged, X-Storage-Url becomes https, faults over
TLS, curl --cacert (skipped without curl; the TLS part is skipped without openssl).
Last line: "N passed, M failed" (", K skipped" when something was skipped); exit status 1 if
anything failed.
"""

import email.utils
import hashlib
import http.client
import http.server
import io
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = os.path.join(HERE, "faultproxy.py")
MAKE_CA = os.path.join(HERE, "make-test-ca.sh")
VERBOSE = "-v" in sys.argv

RESULTS = {"passed": 0, "failed": 0, "skipped": 0}


def check(name, cond, detail=""):
    if cond:
        RESULTS["passed"] += 1
        if VERBOSE:
            print("PASS %s" % name)
    else:
        RESULTS["failed"] += 1
        print("FAIL %s %s" % (name, detail))
    return cond


def skip(name, why):
    RESULTS["skipped"] += 1
    print("SKIP %s: %s" % (name, why))


def run_test(fn):
    t0 = time.time()
    try:
        fn()
        if VERBOSE:
            print("---- %s %.2fs" % (fn.__name__, time.time() - t0))
    except Exception:
        RESULTS["failed"] += 1
        print("FAIL %s raised:\n%s" % (fn.__name__, traceback.format_exc()))


# --------------------------------------------------------------- upstream ---
STORE = tempfile.mkdtemp(prefix="faultproxy-selftest-")
UPSTREAM_PORT = None


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def setup(self):
        super().setup()
        # headers and body are separate writes: without this, Nagle + delayed ACK add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def raw_target(self):
        return self.requestline.split(" ")[1]

    def read_body(self, sink):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        n = 0
        if "chunked" in te:
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                while size:
                    d = self.rfile.read(min(size, 65536))
                    sink(d)
                    n += len(d)
                    size -= len(d)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left:
                d = self.rfile.read(min(left, 262144))
                if not d:
                    break
                sink(d)
                n += len(d)
                left -= len(d)
        return n

    def send_json(self, status, obj, extra=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def echo(self):
        h = hashlib.sha256()
        n = self.read_body(h.update)
        self.send_json(200, {"method": self.command, "target": self.raw_target(),
                             "headers": list(self.headers.items()), "body_len": n,
                             "body_sha256": h.hexdigest(), "client_port": self.client_address[1],
                             "version": self.request_version})

    def obj_path(self):
        name = self.raw_target().split("?")[0][len("/obj/"):]
        return os.path.join(STORE, name.replace("/", "_"))

    def do_PUT(self):
        if self.raw_target().startswith("/obj/"):
            h = hashlib.md5()
            with open(self.obj_path(), "wb") as f:
                def sink(d):
                    h.update(d)
                    f.write(d)
                self.read_body(sink)
            self.send_response(201)
            self.send_header("ETag", '"%s"' % h.hexdigest())
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.echo()

    def do_POST(self):
        self.echo()

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        t = self.raw_target()
        if t.startswith("/auth/v1.0"):
            url = "http://127.0.0.1:%d/v1/AUTH_test" % UPSTREAM_PORT
            self.send_json(200, {"storage": {"default": "local", "local": url}},
                           [("X-Storage-Url", url), ("X-Auth-Token", "AUTH_tk123"),
                            ("X-Storage-Token", "AUTH_tk123")])
        elif t.startswith("/obj/"):
            p = self.obj_path()
            if not os.path.exists(p):
                self.send_json(404, {"error": "no such object"})
                return
            size = os.path.getsize(p)
            mode = t.split("mode=")[1] if "mode=" in t else "length"
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if mode == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
            elif mode == "close":
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(size))
            self.end_headers()
            if self.command == "HEAD":
                return
            with open(p, "rb") as f:
                while True:
                    d = f.read(100000)
                    if not d:
                        break
                    if mode == "chunked":
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(d), d))
                    else:
                        self.wfile.write(d)
            if mode == "chunked":
                self.wfile.write(b"0\r\n\r\n")
        else:
            self.echo()


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # the proxy resets/truncates on purpose: connection errors are expected here
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def start_upstream():
    global UPSTREAM_PORT
    srv = QuietServer(("127.0.0.1", 0), Upstream)
    UPSTREAM_PORT = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


# ------------------------------------------------------------------ proxy ---
class Proxy:
    def __init__(self, upstream_url, *extra, tls=None):
        self.tls = tls    # client ssl.SSLContext for a proxy started with --tls-cert/--tls-key
        self.dir = tempfile.mkdtemp(prefix="faultproxy-run-", dir=STORE)
        self.port_file = os.path.join(self.dir, "port")
        self.log_file = os.path.join(self.dir, "log.jsonl")
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(
            [sys.executable, PROXY, "--upstream", upstream_url, "--listen", "127.0.0.1:0",
             "--port-file", self.port_file, "--log", self.log_file] + list(extra),
            stdout=subprocess.PIPE, stderr=self.stderr)
        t0 = time.time()
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.time() - t0 > 15:
                self.stderr.seek(0)
                raise RuntimeError("proxy did not start: %s" % self.stderr.read())
            time.sleep(0.02)
        self.port = int(open(self.port_file).read())
        self.first_line = self.proc.stdout.readline().decode().strip()
        self.startup = time.time() - t0

    def conn(self, timeout=30, host="127.0.0.1", tls=None):
        tls = tls or self.tls
        if tls is not None:
            return http.client.HTTPSConnection(host, self.port, timeout=timeout, context=tls,
                                               blocksize=262144)
        return http.client.HTTPConnection(host, self.port, timeout=timeout, blocksize=262144)

    def ctl(self, method, name, body=None):
        c = self.conn()
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        c.request(method, "/__faultproxy/" + name, body=data,
                  headers={"Content-Type": "application/json"} if data is not None else {})
        r = c.getresponse()
        out = r.read()
        c.close()
        return r.status, json.loads(out) if out else None

    def rules(self, rules):
        st, _ = self.ctl("POST", "rules", rules)
        assert st == 200, st

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode

    def rss_kib(self, field):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0


def get(c, path, headers=None, method="GET", body=None):
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    return r, r.read()


# ------------------------------------------------------------------ tests ---
P = None          # the main proxy
UP = None         # "http://127.0.0.1:PORT"
DATA20 = None


def t_startup():
    check("startup: port file written, 'listening PORT' on stdout",
          P.port > 0 and P.first_line == "listening %d" % P.port, repr(P.first_line))


def t_raw_forwarding():
    c = P.conn()
    target = "/echo/a%2Fb//c%20d?x=%2F&y=a+b&z&k=%E2%82%AC&list-type=2&prefix="
    c.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
    sent = [("Host", "S3.Example.COM:9999"), ("X-Amz-Date", "20240101T000000Z"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/s3/aws4_request, "
                              "SignedHeaders=host;x-amz-date, Signature=abc"),
            ("X-Mixed-Case", "Value With  Spaces"), ("x-amz-meta-a", "1"), ("X-AMZ-META-A", "2")]
    for k, v in sent:
        c.putheader(k, v)
    c.endheaders()
    r = c.getresponse()
    body = json.loads(r.read())
    check("raw path+query forwarded unchanged", body["target"] == target, body["target"])
    got = [tuple(h) for h in body["headers"]]
    check("headers forwarded unchanged (Host byte for byte, order, duplicates, none added)",
          got == sent, "%r" % got)
    # a leading '//' must not be collapsed either
    r, b = get(c, "//echo/x?y")
    check("leading // kept", json.loads(b)["target"] == "//echo/x?y", b[:200])
    c.close()


def t_keepalive():
    c = P.conn()
    ports, socks = set(), set()
    for i in range(4):
        r, b = get(c, "/echo/ka%d" % i)
        ports.add(json.loads(b)["client_port"])
        socks.add(id(c.sock))
        check("keep-alive request %d ok" % i, r.status == 200 and c.sock is not None)
    check("client connection kept alive across requests", len(socks) == 1)
    check("upstream connection reused for one client connection", len(ports) == 1, ports)
    c.close()


def t_big_stream():
    global DATA20
    DATA20 = os.urandom(20 * 1024 * 1024)
    sha = hashlib.sha256(DATA20).hexdigest()
    rss0 = P.rss_kib("VmRSS")
    c = P.conn(timeout=120)
    t0 = time.time()
    c.request("PUT", "/obj/big20", body=io.BytesIO(DATA20),
              headers={"Content-Length": str(len(DATA20)), "Content-Type": "application/octet-stream"})
    r = c.getresponse()
    r.read()
    t_put = time.time() - t0
    check("20 MiB PUT through the proxy -> 201", r.status == 201, r.status)
    check("20 MiB PUT stored byte-identical (ETag md5)",
          r.getheader("ETag") == '"%s"' % hashlib.md5(DATA20).hexdigest())
    for mode in ("length", "chunked", "close"):
        t0 = time.time()
        r, b = get(c, "/obj/big20?mode=%s" % mode)
        dt = time.time() - t0
        check("20 MiB GET (%s upstream) byte-identical" % mode,
              r.status == 200 and hashlib.sha256(b).hexdigest() == sha, "%d %d" % (r.status, len(b)))
        if mode == "length":
            check("Content-Length kept", r.getheader("Content-Length") == str(len(DATA20)))
            t_get = dt
        if mode == "chunked":
            check("chunked upstream body re-sent chunked",
                  (r.getheader("Transfer-Encoding") or "").lower() == "chunked")
    # still usable after a close-delimited upstream response (proxy re-frames it)
    r, b = get(c, "/echo/after-close")
    check("client connection survives a close-delimited upstream response", r.status == 200)
    c.request("HEAD", "/obj/big20")
    r = c.getresponse()
    b = r.read()
    check("HEAD: Content-Length kept, no body",
          r.status == 200 and r.getheader("Content-Length") == str(len(DATA20)) and b == b"")
    r, b = get(c, "/echo/after-head")
    check("connection usable after HEAD", r.status == 200)
    c.close()
    hwm = P.rss_kib("VmHWM")
    check("proxy streams (peak RSS grew < 16 MiB during 20 MiB transfers)",
          hwm - rss0 < 16 * 1024, "rss0=%d KiB hwm=%d KiB" % (rss0, hwm))
    print("info: 20 MiB PUT %.2fs (%.0f MB/s), GET %.2fs (%.0f MB/s), proxy peak RSS %d MiB"
          % (t_put, 20.97 / t_put, t_get, 20.97 / t_get, hwm // 1024))


def t_status_actions():
    body = os.urandom(1024 * 1024)
    for action, status in (("503", 503), ("500", 500), ("429", 429), ("slowdown", 503)):
        P.rules([{"method": "PUT", "path": "^/obj/st-", "action": action}])
        c = P.conn()
        r, b = get(c, "/obj/st-%s" % action, method="PUT", body=body)
        check("%s -> status %d" % (action, status), r.status == status, r.status)
        check("%s marked X-Faultproxy-Injected" % action, r.getheader("X-Faultproxy-Injected") == action)
        if action == "slowdown":
            check("slowdown S3 XML body",
                  b"<Code>SlowDown</Code>" in b and b"<Message>Please reduce your request rate.</Message>" in b, b)
        r, b = get(c, "/echo/after-%s" % action)
        check("%s: body drained, connection still usable" % action, r.status == 200, r.status)
        c.close()
    P.rules([])


def t_reset():
    P.rules([{"path": "^/obj/rs-a", "action": "reset"},
             {"path": "^/obj/rs-b", "action": "reset-before-body"},
             {"path": "^/echo/rs-raw", "action": "reset"}])
    c = P.conn()
    try:
        get(c, "/obj/rs-a", method="PUT", body=os.urandom(1024 * 1024))
        check("reset: PUT fails", False, "got an answer")
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError) as e:
        check("reset: PUT sees connection reset (%s)" % type(e).__name__, True)
    c.close()
    c = P.conn()
    try:
        get(c, "/obj/rs-b", method="PUT", body=os.urandom(8 * 1024 * 1024))
        check("reset-before-body: PUT fails", False, "got an answer")
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError) as e:
        check("reset-before-body: PUT fails with %s" % type(e).__name__, True)
    c.close()
    # raw socket: must be a real RST (ECONNRESET), not a clean EOF
    s = socket.create_connection(("127.0.0.1", P.port), timeout=10)
    s.sendall(b"GET /echo/rs-raw HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        d = s.recv(100)
        check("reset is an RST (ECONNRESET), not EOF", False, "recv returned %r" % d)
    except ConnectionResetError:
        check("reset is an RST (ECONNRESET), not EOF", True)
    s.close()
    P.rules([])


def t_stall():
    P.rules([{"path": "^/echo/stall", "action": "stall:1.5"}])
    c = P.conn(timeout=10)
    t0 = time.time()
    try:
        get(c, "/echo/stall1")
        check("stall: no answer", False, "got an answer")
    except (http.client.RemoteDisconnected, ConnectionResetError) as e:
        dt = time.time() - t0
        check("stall:1.5 closes after ~1.5 s (%.2fs, %s)" % (dt, type(e).__name__), 1.4 <= dt <= 3.5, dt)
    c.close()
    c = P.conn(timeout=0.5)
    t0 = time.time()
    try:
        get(c, "/echo/stall2")
        check("stall: client timeout", False, "got an answer")
    except (socket.timeout, TimeoutError):
        dt = time.time() - t0
        check("stall: client read timeout fires (%.2fs)" % dt, 0.4 <= dt <= 1.4, dt)
    c.close()
    st, log = P.ctl("GET", "log")
    e = [x for x in log if x["path"] == "/echo/stall2"]
    check("stall visible in log while in progress (status null, injected)",
          e and e[0]["status"] is None and e[0]["injected"] == "stall:1.5", e)
    time.sleep(1.2)
    P.rules([])


def t_truncate():
    data = os.urandom(1024 * 1024)
    c = P.conn()
    r, _ = get(c, "/obj/tr1", method="PUT", body=data)
    c.close()
    P.rules([{"method": "GET", "path": "^/obj/tr1", "action": "truncate"}])
    for mode in ("length", "chunked"):
        c = P.conn()
        c.request("GET", "/obj/tr1?mode=%s" % mode)
        r = c.getresponse()
        if mode == "length":
            check("truncate keeps the full Content-Length", r.getheader("Content-Length") == str(len(data)))
        try:
            b = r.read()
            check("truncate (%s): IncompleteRead" % mode, False, "read %d bytes" % len(b))
        except http.client.IncompleteRead as e:
            ok = len(e.partial) < len(data) and data.startswith(e.partial)
            if mode == "length":
                ok = ok and len(e.partial) == len(data) // 2
            check("truncate (%s): IncompleteRead after %d bytes" % (mode, len(e.partial)), ok)
        c.close()
    P.rules([])


def t_skew():
    P.rules([{"path": "^/obj/skew", "action": "skew:900"}])
    c = P.conn()
    r, b = get(c, "/obj/skew", method="PUT", body=b"x" * 1000,
               headers={"X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())})
    check("skew -> 403 RequestTimeTooSkewed",
          r.status == 403 and b"<Code>RequestTimeTooSkewed</Code>" in b, (r.status, b))
    d = email.utils.parsedate_to_datetime(r.getheader("Date")).timestamp()
    check("skew: Date header ~ now+900 s (RFC 1123, GMT)",
          abs(d - (time.time() + 900)) < 5 and r.getheader("Date").endswith(" GMT"), r.getheader("Date"))
    r, b = get(c, "/echo/after-skew")
    check("skew: connection usable afterwards", r.status == 200)
    c.close()
    P.rules([])


def t_redirect():
    P.rules([{"path": "^/bucket/", "action": "redirect307"}])
    c = P.conn()
    target = "/bucket/some%20key?partNumber=1&uploadId=a%2Bb"
    r, b = get(c, target, method="PUT", body=b"y" * 5000)
    check("redirect307 -> 307 with Location = upstream + raw path",
          r.status == 307 and r.getheader("Location") == UP + target, (r.status, r.getheader("Location")))
    check("redirect307: S3 XML TemporaryRedirect", b"<Code>TemporaryRedirect</Code>" in b, b)
    r, b = get(c, "/echo/after-307")
    check("redirect307: connection usable afterwards", r.status == 200)
    c.close()
    P.rules([])


def t_storage_url():
    c = P.conn()
    r, b = get(c, "/auth/v1.0", headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
    want = "http://127.0.0.1:%d/v1/AUTH_test" % P.port
    check("X-Storage-Url rewritten to the proxy", r.getheader("X-Storage-Url") == want,
          r.getheader("X-Storage-Url"))
    j = json.loads(b)
    check("storage URL in the auth JSON body rewritten too (Content-Length fixed)",
          j["storage"]["local"] == want and int(r.getheader("Content-Length")) == len(b), j)
    check("X-Auth-Token untouched", r.getheader("X-Auth-Token") == "AUTH_tk123")
    c.close()


def t_rule_matching():
    P.rules([{"method": "GET", "path": "^/echo/nth", "nth": [2, 3], "action": "500"},
             {"path": "^/echo/times", "times": 1, "action": "503"},
             {"path": "^/echo/first", "action": "429"},
             {"path": "^/echo/fir", "action": "500"}])
    c = P.conn()
    seq = [get(c, "/echo/nth")[0].status for _ in range(4)]
    check("nth [2,3] -> 200,500,500,200", seq == [200, 500, 500, 200], seq)
    r, _ = get(c, "/echo/nth", method="PUT", body=b"z")
    check("method filter: PUT not matched by a GET rule", r.status == 200, r.status)
    seq = [get(c, "/echo/times")[0].status for _ in range(3)]
    check("times 1 -> 503,200,200", seq == [503, 200, 200], seq)
    check("first matching rule wins", get(c, "/echo/first")[0].status == 429)
    st, rules = P.ctl("GET", "rules")
    check("GET rules shows counters", rules[0]["count"] == 4 and rules[0]["fired"] == 2, rules[0])
    c.close()
    st, body = P.ctl("POST", "rules", b"[{\"action\": \"boom\"}]")
    check("POST rules with a bad action -> 400", st == 400, (st, body))
    st, body = P.ctl("POST", "rules", b"not json")
    check("POST rules with bad JSON -> 400", st == 400, (st, body))
    st, body = P.ctl("POST", "rules", [{"path": "^/echo/new", "nth": [1], "action": "503"}])
    c = P.conn()
    seq = [get(c, "/echo/new")[0].status for _ in range(2)]
    check("POST rules replaces rules and resets counters", st == 200 and seq == [503, 200], seq)
    P.rules([])
    check("empty rules: request passes", get(c, "/echo/first")[0].status == 200)
    c.close()


def t_expect_and_chunked():
    s = socket.create_connection(("127.0.0.1", P.port), timeout=10)
    body = b"e" * 300000
    s.sendall(b"POST /echo/expect HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n"
              b"Expect: 100-continue\r\n\r\n" % len(body))
    first = s.recv(100)
    check("Expect: 100-continue answered with 100 Continue",
          first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first)
    s.sendall(body)
    f = s.makefile("rb")
    rest = first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
    r = http.client.HTTPResponse(s, method="POST")
    r.fp = io.BufferedReader(_Prefixed(rest, f))
    r.begin()
    j = json.loads(r.read())
    check("Expect: body forwarded, Expect header not forwarded",
          r.status == 200 and j["body_len"] == len(body)
          and not any(k.lower() == "expect" for k, _ in j["headers"]), j)
    s.close()
    # chunked request body
    c = P.conn()
    parts = [os.urandom(70000), os.urandom(300000), os.urandom(5)]
    c.request("POST", "/echo/chunked", body=iter(parts), encode_chunked=True,
              headers={"Transfer-Encoding": "chunked"})
    r = c.getresponse()
    j = json.loads(r.read())
    check("chunked request body forwarded",
          r.status == 200 and j["body_sha256"] == hashlib.sha256(b"".join(parts)).hexdigest(), j)
    c.close()


class _Prefixed(io.RawIOBase):
    def __init__(self, prefix, f):
        self.prefix, self.f = prefix, f

    def readable(self):
        return True

    def readinto(self, b):
        if self.prefix:
            n = min(len(b), len(self.prefix))
            b[:n] = self.prefix[:n]
            self.prefix = self.prefix[n:]
            return n
        d = self.f.read1(len(b))
        b[:len(d)] = d
        return len(d)


def t_log_and_stats():
    st, log = P.ctl("GET", "log")
    check("GET log -> JSON list", st == 200 and isinstance(log, list) and log, st)
    check("control requests are not logged", not any(e["path"].startswith("/__faultproxy/") for e in log))
    seqs = [e["seq"] for e in log]
    check("log seq increasing from 1", seqs == list(range(1, len(log) + 1)), seqs[:10])
    keys = {"seq", "method", "path", "status", "injected", "bytes_in", "bytes_out", "time"}
    check("log entries have all fields", all(keys <= set(e) for e in log))
    put = [e for e in log if e["method"] == "PUT" and e["path"] == "/obj/big20"]
    check("log: 20 MiB PUT bytes_in/status", put and put[0]["bytes_in"] == len(DATA20)
          and put[0]["status"] == 201 and put[0]["injected"] is None, put)
    g = [e for e in log if e["method"] == "GET" and e["path"] == "/obj/big20?mode=length"]
    check("log: 20 MiB GET bytes_out", g and g[0]["bytes_out"] == len(DATA20), g)
    rs = [e for e in log if e["path"] == "/obj/rs-a"]
    check("log: reset has status null, injected reset, bytes_in read",
          rs and rs[0]["status"] is None and rs[0]["injected"] == "reset" and rs[0]["bytes_in"] == 1024 * 1024, rs)
    sd = [e for e in log if e["path"] == "/obj/st-slowdown"]
    check("log: slowdown status 503", sd and sd[0]["status"] == 503 and sd[0]["injected"] == "slowdown", sd)
    tr = [e for e in log if e["path"] == "/obj/tr1?mode=length"]
    check("log: truncate status 200, half the bytes out",
          tr and tr[0]["status"] == 200 and tr[0]["bytes_out"] == 512 * 1024, tr)
    # --log file: one JSON object per line, same content
    time.sleep(0.2)
    with open(P.log_file) as f:
        lines = [json.loads(x) for x in f if x.strip()]
    check("--log file: JSON lines for every finished request",
          {e["seq"] for e in lines} == {e["seq"] for e in log if e["duration"] is not None}, len(lines))
    st, stats = P.ctl("GET", "stats")
    inj = {}
    for e in log:
        if e["injected"]:
            inj[e["injected"]] = inj.get(e["injected"], 0) + 1
    check("stats: requests == log length", stats["requests"] == len(log), (stats, len(log)))
    check("stats: injected counts match the log", stats["injected"] == inj, (stats["injected"], inj))
    fwd = sum(1 for e in log if e["injected"] in (None, "truncate"))
    check("stats: forwarded count", stats["forwarded"] == fwd, (stats["forwarded"], fwd))
    st, since = P.ctl("GET", "log?since=%d" % (len(log) - 2))
    check("GET log?since=N", [e["seq"] for e in since] == seqs[-2:], since)
    st, _ = P.ctl("POST", "reset")
    st2, log2 = P.ctl("GET", "log")
    st3, stats = P.ctl("GET", "stats")
    check("POST reset clears log and stats", st == 200 and log2 == [] and stats["requests"] == 0, (log2, stats))
    st, _ = P.ctl("GET", "nope")
    check("unknown control endpoint -> 404", st == 404)


def t_upstream_down():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    p = Proxy("http://127.0.0.1:%d" % dead)
    try:
        c = p.conn()
        r, b = get(c, "/x", method="PUT", body=b"q" * 10000)
        check("dead upstream -> 502", r.status == 502, r.status)
        r, b = get(c, "/y")
        check("dead upstream: connection stays usable", r.status == 502)
        c.close()
    finally:
        p.stop()


def t_random():
    spec = "503=0.3,500=0.2"
    seqs = []
    for _ in range(2):
        p = Proxy(UP, "--random", spec, "--seed", "42")
        try:
            c = p.conn()
            seqs.append([get(c, "/echo/r")[0].status for _ in range(300)])
            c.close()
            st, stats = p.ctl("GET", "stats")
        finally:
            p.stop()
    s = seqs[0]
    n503, n500 = s.count(503), s.count(500)
    check("random: ~30%% 503 and ~20%% 500 (%d, %d of 300)" % (n503, n500),
          60 <= n503 <= 120 and 35 <= n500 <= 85)
    check("random: same seed -> same faults", seqs[0] == seqs[1])
    check("random: stats count them", stats["injected"].get("503") == seqs[1].count(503))
    p = Proxy(UP, "--random", "reset=0.5,stall:0.2=0.5", "--seed", "1",
              "--rules", json.dumps([{"path": "^/echo/ruled", "action": "429"}]))
    try:
        c = p.conn()
        check("rules take precedence over --random", get(c, "/echo/ruled")[0].status == 429)
        c.close()
    finally:
        p.stop()
    try:
        subprocess.run([sys.executable, PROXY, "--upstream", UP, "--random", "503=0.9,500=0.2"],
                       capture_output=True, timeout=10, check=True)
        check("random: probabilities > 1 rejected", False)
    except subprocess.CalledProcessError as e:
        check("random: probabilities > 1 rejected (exit %d)" % e.returncode, e.returncode == 2)


def t_sigterm():
    p = Proxy(UP)
    # an idle keep-alive connection and a stalled request must not block the exit
    p.rules([{"path": "^/echo/hang", "action": "stall:30"}])
    c = p.conn()
    get(c, "/echo/x")
    s = socket.create_connection(("127.0.0.1", p.port))
    s.sendall(b"GET /echo/hang HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    t0 = time.time()
    rc = p.stop()
    dt = time.time() - t0
    check("SIGTERM: exit 0 within 3 s (%.2fs)" % dt, rc == 0 and dt < 3, rc)
    check("SIGTERM: port file removed", not os.path.exists(p.port_file))
    s.close()
    c.close()


# -------------------------------------------------------------------- TLS ---
CERTS = None      # folder with make-test-ca.sh's output, None when it could not be made
CA_FILES = ("ca.pem", "ca.key", "server.pem", "server.key", "other-ca.pem")


def t_make_test_ca():
    global CERTS
    if shutil.which("openssl") is None:
        skip("make-test-ca.sh and the TLS tests", "no openssl command (Debian package openssl)")
        return
    d = os.path.join(STORE, "certs")
    r = subprocess.run(["bash", MAKE_CA, d], capture_output=True, timeout=120)
    ok = check("make-test-ca.sh exits 0, prints nothing", r.returncode == 0 and not r.stdout and not r.stderr,
               (r.returncode, r.stdout[-500:], r.stderr[-2000:]))
    files = os.listdir(d) if os.path.isdir(d) else []
    ok = check("make-test-ca.sh writes ca.pem ca.key server.pem server.key other-ca.pem",
               all(f in files and os.path.getsize(os.path.join(d, f)) > 0 for f in CA_FILES), files) and ok
    if not ok:
        return
    check("make-test-ca.sh: keys mode 600",
          all(os.stat(os.path.join(d, f)).st_mode & 0o777 == 0o600 for f in ("ca.key", "server.key")))
    check("make-test-ca.sh leaves no temporary files", sorted(os.listdir(d)) == sorted(CA_FILES), os.listdir(d))
    r2 = subprocess.run(["openssl", "x509", "-in", os.path.join(d, "server.pem"), "-noout", "-text"],
                        capture_output=True, text=True)
    san = r2.stdout.split("Subject Alternative Name:")[-1].split("\n")[1].strip() if r2.returncode == 0 else ""
    check("server.pem: subjectAltName IP:127.0.0.1, DNS:localhost", san == "IP Address:127.0.0.1, DNS:localhost", san)
    before = {f: open(os.path.join(d, f), "rb").read() for f in CA_FILES}
    r = subprocess.run(["bash", MAKE_CA, d], capture_output=True, timeout=120)
    after = {f: open(os.path.join(d, f), "rb").read() for f in CA_FILES}
    check("make-test-ca.sh is idempotent (second run: exit 0, quiet, files unchanged)",
          r.returncode == 0 and not r.stdout and not r.stderr and before == after, (r.returncode, r.stderr))
    # a broken set is made anew
    d2 = os.path.join(STORE, "certs-broken")
    os.makedirs(d2)
    for f in CA_FILES:
        shutil.copy(os.path.join(d, f), d2)
    os.unlink(os.path.join(d2, "server.key"))
    r = subprocess.run(["bash", MAKE_CA, d2], capture_output=True, timeout=120)
    check("make-test-ca.sh remakes an incomplete set",
          r.returncode == 0 and all(os.path.exists(os.path.join(d2, f)) for f in CA_FILES)
          and open(os.path.join(d2, "ca.pem"), "rb").read() != before["ca.pem"], r.stderr)
    # no openssl on PATH -> non-zero exit with a message (bash itself by absolute path)
    empty = tempfile.mkdtemp(dir=STORE)
    r = subprocess.run([shutil.which("bash") or "/bin/bash", MAKE_CA, os.path.join(STORE, "certs-none")],
                       capture_output=True, timeout=30, env={"PATH": empty})
    check("make-test-ca.sh without openssl: exit 1 and a message naming openssl",
          r.returncode == 1 and b"openssl" in r.stderr and not os.path.exists(os.path.join(STORE, "certs-none")),
          (r.returncode, r.stderr))
    r = subprocess.run(["bash", MAKE_CA], capture_output=True, timeout=30)
    check("make-test-ca.sh without OUTDIR: usage, exit 2", r.returncode == 2 and b"usage" in r.stderr, r)
    CERTS = d


def client_ctx(ca):
    return ssl.create_default_context(cafile=os.path.join(CERTS, ca))


def t_tls():
    if CERTS is None:
        skip("TLS proxy tests", "no certificates (see make-test-ca.sh above)")
        return
    cert, key = os.path.join(CERTS, "server.pem"), os.path.join(CERTS, "server.key")
    good, other = client_ctx("ca.pem"), client_ctx("other-ca.pem")
    p = Proxy(UP, "--tls-cert", cert, "--tls-key", key, tls=good)
    try:
        check("TLS: started, 'listening PORT'", p.first_line == "listening %d" % p.port, p.first_line)
        st, h = p.ctl("GET", "health")
        check("TLS: control endpoints over HTTPS (health says tls)", st == 200 and h.get("tls") is True, h)

        # GET, keep-alive, verified against ca.pem by IP and by name
        c = p.conn()
        r, b = get(c, "/echo/tls%20a?x=%2F")
        j = json.loads(b)
        check("TLS: client trusting ca.pem: GET -> 200, right body",
              r.status == 200 and j["target"] == "/echo/tls%20a?x=%2F" and j["method"] == "GET", (r.status, b[:300]))
        ver = c.sock.version()
        check("TLS: version >= 1.2 (%s)" % ver, ver in ("TLSv1.2", "TLSv1.3"), ver)
        check("TLS: ALPN http/1.1 or none", c.sock.selected_alpn_protocol() in (None, "http/1.1"))
        sock0 = c.sock
        r, b = get(c, "/echo/tls-b")
        check("TLS: keep-alive (second request on the same connection)", r.status == 200 and c.sock is sock0)
        c.close()
        c = p.conn(host="localhost")
        r, b = get(c, "/echo/tls-name")
        check("TLS: verified as https://localhost too (DNS SAN)", r.status == 200, r.status)
        c.close()

        # 5 MiB PUT streamed, then GET it back (Content-Length and chunked upstream)
        data = os.urandom(5 * 1024 * 1024)
        c = p.conn(timeout=60)
        c.request("PUT", "/obj/tls5", body=io.BytesIO(data), headers={"Content-Length": str(len(data))})
        r = c.getresponse()
        r.read()
        check("TLS: 5 MiB streamed PUT -> 201, stored byte-identical (ETag)",
              r.status == 201 and r.getheader("ETag") == '"%s"' % hashlib.md5(data).hexdigest(),
              (r.status, r.getheader("ETag")))
        for mode in ("length", "chunked"):
            r, b = get(c, "/obj/tls5?mode=%s" % mode)
            check("TLS: 5 MiB GET (%s upstream) byte-identical" % mode, r.status == 200 and b == data,
                  (r.status, len(b)))
        parts = [os.urandom(100000), os.urandom(5)]
        c.request("POST", "/echo/tls-chunked", body=iter(parts), encode_chunked=True,
                  headers={"Transfer-Encoding": "chunked"})
        r = c.getresponse()
        j = json.loads(r.read())
        check("TLS: chunked request body forwarded",
              j["body_sha256"] == hashlib.sha256(b"".join(parts)).hexdigest(), j)
        c.close()

        st, log0 = p.ctl("GET", "log")

        # a client trusting only other-ca.pem fails verification; the proxy keeps serving
        c = p.conn(tls=other)
        try:
            get(c, "/echo/should-not-arrive")
            check("TLS: client trusting other-ca.pem fails verification", False, "got an answer")
        except ssl.SSLCertVerificationError as e:
            check("TLS: client trusting other-ca.pem fails verification (SSLCertVerificationError)", True)
        c.close()
        # the same without verification of the name, only of the chain
        ctx = client_ctx("other-ca.pem")
        ctx.check_hostname = False
        try:
            s0 = socket.create_connection(("127.0.0.1", p.port), timeout=10)
            ctx.wrap_socket(s0).close()
            check("TLS: other CA (no name check) still fails the chain", False)
        except ssl.SSLCertVerificationError:
            check("TLS: other CA (no name check) still fails the chain", True)
        # TLS 1.1 is refused by the proxy (an alert from the server, not the client's own refusal)
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("DEFAULT:@SECLEVEL=0")
            can_11 = True
        except (ValueError, ssl.SSLError):
            can_11 = False
        if can_11:
            try:
                s0 = socket.create_connection(("127.0.0.1", p.port), timeout=10)
                old.wrap_socket(s0).close()
                check("TLS 1.1 refused", False, "handshake succeeded")
            except ssl.SSLError as e:
                if "NO_PROTOCOLS_AVAILABLE" in str(e) or "NO_CIPHERS" in str(e):
                    skip("TLS 1.1 refused by the proxy", "this client cannot offer TLS 1.1: %s" % e)
                else:
                    check("TLS 1.1 refused by the proxy (%s)" % e.reason, "PROTOCOL_VERSION" in str(e)
                          or "UNSUPPORTED_PROTOCOL" in str(e), e)
            except OSError as e:
                check("TLS 1.1 refused by the proxy (%r)" % e, True)
        # plain HTTP on the TLS port: closed without an HTTP answer
        s0 = socket.create_connection(("127.0.0.1", p.port), timeout=10)
        s0.sendall(b"GET /echo/plain HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            d0 = s0.recv(4096)
        except ConnectionResetError:
            d0 = b""
        s0.close()
        check("TLS: plain HTTP on the TLS port gets no HTTP answer", not d0.startswith(b"HTTP/"), d0[:100])
        # connect and go away; and a client stalling in the handshake while others are served
        socket.create_connection(("127.0.0.1", p.port), timeout=10).close()
        stalled = socket.create_connection(("127.0.0.1", p.port), timeout=10)
        half = socket.create_connection(("127.0.0.1", p.port), timeout=10)
        half.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # a cut ClientHello
        c = p.conn(timeout=5)
        t0 = time.time()
        r, b = get(c, "/echo/after-bad-handshakes")
        dt = time.time() - t0
        check("TLS: keeps serving after failed/stalled handshakes (%.2fs)" % dt,
              r.status == 200 and json.loads(b)["target"] == "/echo/after-bad-handshakes" and dt < 3, r.status)
        c.close()
        st, log1 = p.ctl("GET", "log")
        new = [e["path"] for e in log1[len(log0):]]
        check("TLS: failed handshakes are not logged as requests", new == ["/echo/after-bad-handshakes"], new)
        st, stats = p.ctl("GET", "stats")
        check("TLS: stats count no failed handshake", stats["requests"] == len(log1), (stats, len(log1)))

        # X-Storage-Url rewritten to https://127.0.0.1:PORT, and that URL works through the proxy
        c = p.conn()
        r, b = get(c, "/auth/v1.0", headers={"X-Auth-User": "test:tester", "X-Auth-Key": "testing"})
        want = "https://127.0.0.1:%d/v1/AUTH_test" % p.port
        check("TLS: X-Storage-Url rewritten to https://127.0.0.1:PORT",
              r.getheader("X-Storage-Url") == want, r.getheader("X-Storage-Url"))
        check("TLS: storage URL in the auth body rewritten to https",
              json.loads(b)["storage"]["local"] == want and int(r.getheader("Content-Length")) == len(b), b)
        r, b = get(c, want[len("https://127.0.0.1:%d" % p.port):] + "/cont")
        check("TLS: the rewritten storage URL reaches the upstream",
              r.status == 200 and json.loads(b)["target"] == "/v1/AUTH_test/cont", b[:200])
        c.close()

        # faults over TLS
        p.rules([{"path": "^/echo/f503", "action": "503"},
                 {"path": "^/obj/tls5", "action": "truncate"},
                 {"path": "^/echo/frst", "action": "reset"}])
        c = p.conn()
        r, b = get(c, "/echo/f503", method="PUT", body=os.urandom(300000))
        check("TLS: injected 503", r.status == 503 and r.getheader("X-Faultproxy-Injected") == "503", r.status)
        r, b = get(c, "/echo/after-503")
        check("TLS: connection usable after an injected 503", r.status == 200, r.status)
        c.request("GET", "/obj/tls5")
        r = c.getresponse()
        try:
            r.read()
            check("TLS: truncate -> IncompleteRead", False, "complete body")
        except http.client.IncompleteRead as e:
            check("TLS: truncate -> IncompleteRead after half", len(e.partial) == len(data) // 2, len(e.partial))
        c.close()
        c = p.conn()
        try:   # an RST under TLS: Python's ssl reports it as an EOF (curl: exit 56, below)
            get(c, "/echo/frst")
            check("TLS: reset -> connection error", False, "got an answer")
        except (ConnectionResetError, http.client.RemoteDisconnected, ssl.SSLError) as e:
            check("TLS: reset -> connection error (%s)" % type(e).__name__, True)
        c.close()

        # curl --cacert
        curl = shutil.which("curl")
        if curl is None:
            skip("TLS: curl --cacert", "no curl")
        else:
            base = "https://127.0.0.1:%d" % p.port
            r = subprocess.run([curl, "-sS", "--fail", "--max-time", "20", "--cacert",
                                os.path.join(CERTS, "ca.pem"), base + "/echo/curl?q=1"],
                               capture_output=True, timeout=30)
            ok = r.returncode == 0
            j = json.loads(r.stdout) if ok else {}
            check("TLS: curl --cacert ca.pem GET -> 200, right body",
                  ok and j.get("target") == "/echo/curl?q=1", (r.returncode, r.stderr[-500:]))
            up = os.path.join(STORE, "curl-up.bin")
            with open(up, "wb") as f:
                f.write(data)
            r = subprocess.run([curl, "-sS", "--fail", "--max-time", "30", "--cacert",
                                os.path.join(CERTS, "ca.pem"), "-T", up, "-D", "-", "-o", "/dev/null",
                                base + "/obj/tls5-curl"], capture_output=True, timeout=40)
            check("TLS: curl --cacert ca.pem -T 5 MiB -> 201, right ETag",
                  r.returncode == 0 and hashlib.md5(data).hexdigest().encode() in r.stdout,
                  (r.returncode, r.stdout[-300:], r.stderr[-300:]))
            r = subprocess.run([curl, "-sS", "--max-time", "20", "--cacert", os.path.join(CERTS, "other-ca.pem"),
                                base + "/echo/curl-other"], capture_output=True, timeout=30)
            check("TLS: curl --cacert other-ca.pem refuses the proxy (exit 60)", r.returncode == 60,
                  (r.returncode, r.stderr[-300:]))
            r = subprocess.run([curl, "-sS", "--max-time", "20", "--cacert", os.path.join(CERTS, "ca.pem"),
                                "-D", "-", "-o", "/dev/null", "-H", "X-Auth-User: test:tester",
                                "-H", "X-Auth-Key: testing", base + "/auth/v1.0"], capture_output=True, timeout=30)
            check("TLS: curl sees X-Storage-Url https://127.0.0.1:PORT/...",
                  ("X-Storage-Url: %s/v1/AUTH_test" % base).lower().encode() in r.stdout.lower(), r.stdout[-500:])
            r = subprocess.run([curl, "-sS", "--max-time", "20", "--cacert", os.path.join(CERTS, "ca.pem"),
                                base + "/echo/frst"], capture_output=True, timeout=30)
            check("TLS: curl sees the reset action as 'Connection reset by peer' (exit 56)",
                  r.returncode == 56 and b"reset" in r.stderr, (r.returncode, r.stderr[-300:]))
            c = p.conn()
            r, b = get(c, "/echo/after-curl")
            check("TLS: still serving after curl", r.status == 200)
            c.close()
        p.rules([])

        # bad options
        r = subprocess.run([sys.executable, PROXY, "--upstream", UP, "--tls-cert", cert],
                           capture_output=True, timeout=10)
        check("--tls-cert without --tls-key -> exit 2", r.returncode == 2 and b"--tls-key" in r.stderr, r.stderr)
        r = subprocess.run([sys.executable, PROXY, "--upstream", UP, "--tls-cert", os.path.join(CERTS, "ca.pem"),
                            "--tls-key", key], capture_output=True, timeout=10)
        check("certificate not matching the key -> exit 2 with a message",
              r.returncode == 2 and b"faultproxy: cannot load" in r.stderr, r.stderr)

        # SIGTERM with a client stuck in the handshake
        t0 = time.time()
        rc = p.stop()
        check("TLS: SIGTERM exit 0 within 3 s with a stalled handshake open",
              rc == 0 and time.time() - t0 < 3, rc)
        stalled.close()
        half.close()
        p.stderr.seek(0)
        err = p.stderr.read()
        check("TLS: proxy stderr empty (failed handshakes are quiet)", err == "", err[-2000:])
    finally:
        p.stop()


def main():
    global P, UP
    t0 = time.time()
    up = start_upstream()
    UP = "http://127.0.0.1:%d" % UPSTREAM_PORT
    P = Proxy(UP)
    try:
        for t in (t_startup, t_raw_forwarding, t_keepalive, t_big_stream, t_status_actions, t_reset,
                  t_stall, t_truncate, t_skew, t_redirect, t_storage_url, t_rule_matching,
                  t_expect_and_chunked, t_log_and_stats, t_upstream_down, t_random, t_sigterm,
                  t_make_test_ca, t_tls):
            run_test(t)
    finally:
        rc = P.stop()
        check("main proxy exits 0 on SIGTERM", rc == 0, rc)
        P.stderr.seek(0)
        err = P.stderr.read()
        check("proxy wrote no tracebacks to stderr", "Traceback" not in err, err[-2000:])
        up.shutdown()
        shutil.rmtree(STORE, ignore_errors=True)
    print("info: self-test took %.1fs" % (time.time() - t0))
    line = "%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"])
    if RESULTS["skipped"]:
        line += ", %d skipped" % RESULTS["skipped"]
    print(line)
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
