#!/usr/bin/env python3
"""faultproxy - a fault-injecting HTTP/1.1 reverse proxy for integration tests.

Python 3 standard library only.

    python3 Tests/tools/faultproxy.py --upstream http://127.0.0.1:8080 \
        [--listen 127.0.0.1:0] [--port-file FILE] [--log FILE.jsonl] \
        [--rules JSON-or-@file] [--seed N] [--random SPEC] \
        [--tls-cert FILE --tls-key FILE]

Forwarding
  * Threaded; keep-alive towards the client; one upstream connection per client
    connection (reused while the upstream keeps it open).
  * The request line's target (path + query) is forwarded exactly as received, and
    so is every header (Host included, byte for byte), except the hop-by-hop ones
    (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade, Expect).
    Nothing is added (no Via, no X-Forwarded-For).
  * Bodies are streamed in 256 KiB blocks in both directions, never held whole.
    Request bodies: Content-Length or chunked. Responses: Content-Length kept when
    the upstream sent one, else re-sent chunked (HTTP/1.1 clients) or close-delimited.
  * `Expect: 100-continue` is answered by the proxy itself (100 Continue) when it is
    going to read the body, and is not forwarded.
  * A response carrying `X-Storage-Url` (Swift TempAuth / radosgw) has that URL's
    scheme://host:port replaced by the proxy's own http://HOST:PORT (https://HOST:PORT
    with TLS; also inside a small response body), so the client's later requests go
    through the proxy too.

TLS (--tls-cert FILE --tls-key FILE, both or neither)
  * The proxy then accepts HTTPS only (TLS 1.2 or newer, ALPN http/1.1) on --listen,
    presenting that certificate (PEM; FILE may hold the chain after it) and key (PEM,
    unencrypted). The upstream stays plain HTTP; control endpoints are HTTPS too.
  * The handshake runs in the connection's own thread, with a timeout of
    min(--idle-timeout, 30) s: a client that fails it (refuses the certificate, speaks
    plain HTTP, stalls, goes away) only has its connection closed, quietly: no log
    entry, no stats, nothing on stderr, other clients unaffected.
  * Connections are closed with a TLS close_notify (best effort, not waited for);
    "reset" actions still close with a TCP RST.
  * Tests/tools/make-test-ca.sh OUTDIR makes a throw-away CA (ca.pem) and a server
    certificate for 127.0.0.1 / localhost (server.pem, server.key) signed by it:
        --tls-cert OUTDIR/server.pem --tls-key OUTDIR/server.key, clients trust ca.pem.

Rules (--rules, or POST /__faultproxy/rules): a JSON list of objects
  {"method": "PUT" | ["PUT","GET"]   optional, exact (case-insensitive) match
   "path":   "regex"                 optional, re.search() on the raw path+query
   "nth":    [1, 3]                  optional, which matching requests (1-based)
   "times":  N                       optional, at most N firings
   "action": ACTION}
  Each rule counts every request matching its method/path filters (independently of
  the other rules); it fires when the count is in "nth" (if given) and it has fired
  fewer than "times" (if given). The first rule (in list order) that fires wins.
  Rules take precedence over --random.

ACTIONs
  "503" "500" "429" (any 3-digit status)  plain status with a short text body
  "slowdown"          503 with S3 XML error SlowDown
  "reset"             read the request body, then close with SO_LINGER 0 (RST), no answer
  "reset-before-body" close with RST without reading the body
  "stall:SECONDS"     answer nothing for SECONDS (the body is read and discarded), then close
  "truncate"          forward; send the headers with the full Content-Length, but only half
                      of the body, then close (chunked responses: half of the first block,
                      no terminating chunk). A response without a body is passed on whole
                      and the connection closed.
  "skew:SECONDS"      403 S3 XML RequestTimeTooSkewed with Date: now+SECONDS (RFC 1123)
  "redirect307"       307 with Location: upstream base URL + the raw path+query, S3 XML
                      TemporaryRedirect
  Injected answers drain the request body first (except reset-before-body and stall
  before its close), so the client connection stays usable afterwards.
  Every injected answer carries the header X-Faultproxy-Injected: ACTION.

--random SPEC, e.g. "503=0.05,reset=0.02,stall:2=0.01,truncate=0.02": every request
  independently gets at most one of these faults with the given probabilities (drawn
  from a random.Random seeded with --seed; the probabilities may add up to at most 1).

Control endpoints (never forwarded, never logged or counted as traffic)
  GET  /__faultproxy/log[?since=SEQ]  access log as a JSON list (entries with seq > SEQ)
  POST /__faultproxy/rules            body: JSON list; replaces the rules, resets counters
  GET  /__faultproxy/rules            current rules with their counters
  POST /__faultproxy/random           body: SPEC text (empty = off), optional ?seed=N
  POST /__faultproxy/reset            clears rules, log and stats
  GET  /__faultproxy/stats            {"requests": n, "injected": {"503": n, ...}, "forwarded": n, ...}
  GET  /__faultproxy/health           {"ok": true, "port": PORT, "tls": false|true}

Access log entry (also appended to --log FILE as JSON lines, flushed per line):
  {"seq", "method", "path", "status", "injected", "bytes_in", "bytes_out", "time",
   "duration", "error"}
  status is the upstream or injected status, null for reset/stall (and while a request
  is still in progress); bytes_in/bytes_out count request/response body bytes.
  An entry appears in GET /log as soon as the request arrives and is completed in place;
  the --log file gets it when the request is finished.

Exits cleanly (status 0) on SIGTERM / SIGINT; removes its --port-file then.
"""

import argparse
import email.utils
import http.client
import json
import os
import random
import re
import select
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape as xml_escape

BLOCK = 256 * 1024
CONTROL_PREFIX = "/__faultproxy/"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "upgrade", "expect", "proxy-authenticate", "proxy-authorization"}
MAX_LINE = 65536
MAX_HEADERS = 200
REWRITE_BODY_MAX = 64 * 1024

STATUS_ACTION_RE = re.compile(r"^[1-5][0-9][0-9]$")
PARAM_ACTION_RE = re.compile(r"^(stall|skew):(-?[0-9]+(?:\.[0-9]+)?)$")
SIMPLE_ACTIONS = {"slowdown", "reset", "reset-before-body", "truncate", "redirect307"}


class ProxyError(Exception):
    pass


class ClientGone(Exception):
    """The client closed or broke its connection."""


def validate_action(action):
    if not isinstance(action, str):
        raise ValueError("action must be a string, got %r" % (action,))
    if STATUS_ACTION_RE.match(action) or action in SIMPLE_ACTIONS or PARAM_ACTION_RE.match(action):
        return action
    raise ValueError("unknown action %r" % (action,))


def parse_rules(obj):
    if isinstance(obj, (str, bytes)):
        obj = json.loads(obj)
    if not isinstance(obj, list):
        raise ValueError("rules must be a JSON list")
    rules = []
    for i, r in enumerate(obj):
        if not isinstance(r, dict):
            raise ValueError("rule %d is not an object" % i)
        unknown = set(r) - {"method", "path", "nth", "times", "action", "comment", "name"}
        if unknown:
            raise ValueError("rule %d: unknown keys %s" % (i, sorted(unknown)))
        if "action" not in r:
            raise ValueError("rule %d has no action" % i)
        validate_action(r["action"])
        methods = r.get("method")
        if methods is not None:
            if isinstance(methods, str):
                methods = [methods]
            if not isinstance(methods, list) or not all(isinstance(m, str) for m in methods):
                raise ValueError("rule %d: method must be a string or a list of strings" % i)
            methods = {m.upper() for m in methods}
        path = r.get("path")
        regex = None
        if path is not None:
            if not isinstance(path, str):
                raise ValueError("rule %d: path must be a string (regex)" % i)
            try:
                regex = re.compile(path)
            except re.error as e:
                raise ValueError("rule %d: bad path regex: %s" % (i, e))
        nth = r.get("nth")
        if nth is not None:
            if isinstance(nth, int) and not isinstance(nth, bool):
                nth = [nth]
            if not isinstance(nth, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in nth):
                raise ValueError("rule %d: nth must be a list of integers >= 1" % i)
            nth = set(nth)
        times = r.get("times")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 0):
            raise ValueError("rule %d: times must be an integer >= 0" % i)
        rules.append({"spec": dict(r), "methods": methods, "regex": regex, "nth": nth,
                      "times": times, "action": r["action"], "count": 0, "fired": 0})
    return rules


def parse_random(spec):
    """'503=0.05,reset=0.02' -> [(action, p), ...]"""
    out = []
    spec = (spec or "").strip()
    if not spec:
        return out
    total = 0.0
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        action, sep, p = part.rpartition("=")
        if not sep or not action:
            raise ValueError("bad --random item %r (want ACTION=PROBABILITY)" % part)
        validate_action(action)
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError("probability out of range in %r" % part)
        total += p
        out.append((action, p))
    if total > 1.0 + 1e-9:
        raise ValueError("--random probabilities add up to %.4f > 1" % total)
    return out


def load_rules_arg(value):
    if value is None:
        return []
    if value.startswith("@"):
        with open(value[1:], "r", encoding="utf-8") as f:
            value = f.read()
    return parse_rules(value)


def s3_error_xml(code, message, extra=()):
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>', xml_escape(code),
             "</Code><Message>", xml_escape(message), "</Message>"]
    for k, v in extra:
        parts.append("<%s>%s</%s>" % (k, xml_escape(str(v)), k))
    parts.append("<RequestId>faultproxy</RequestId></Error>")
    return "".join(parts).encode("utf-8")


class State:
    """Shared, lock-protected state: rules, random faults, access log, stats."""

    def __init__(self, rules, random_spec, seed, log_path):
        self.lock = threading.Lock()
        self.rules = rules
        self.random_spec = random_spec
        self.seed = seed
        self.rng = random.Random(seed)
        self.log = []
        self.seq = 0
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None
        self.reset_stats()

    def reset_stats(self):
        self.stats = {"requests": 0, "injected": {}, "forwarded": 0,
                      "upstream_errors": 0, "client_errors": 0}

    def choose(self, method, target):
        """Return the action for this request (or None). Called once per request."""
        with self.lock:
            chosen = None
            for r in self.rules:
                if r["methods"] is not None and method.upper() not in r["methods"]:
                    continue
                if r["regex"] is not None and not r["regex"].search(target):
                    continue
                r["count"] += 1
                if chosen is not None:
                    continue
                if r["nth"] is not None and r["count"] not in r["nth"]:
                    continue
                if r["times"] is not None and r["fired"] >= r["times"]:
                    continue
                r["fired"] += 1
                chosen = r["action"]
            if self.random_spec:
                u = self.rng.random()   # drawn for every request: reproducible per seed
                if chosen is None:
                    acc = 0.0
                    for action, p in self.random_spec:
                        acc += p
                        if u < acc:
                            chosen = action
                            break
            return chosen

    def new_entry(self, method, target):
        with self.lock:
            self.seq += 1
            e = {"seq": self.seq, "method": method, "path": target, "status": None,
                 "injected": None, "bytes_in": 0, "bytes_out": 0, "time": time.time(),
                 "duration": None, "error": None}
            self.log.append(e)
            self.stats["requests"] += 1
            return e

    def note_injected(self, entry, action):
        with self.lock:
            entry["injected"] = action
            inj = self.stats["injected"]
            inj[action] = inj.get(action, 0) + 1

    def note_forwarded(self):
        with self.lock:
            self.stats["forwarded"] += 1

    def finish(self, entry, **fields):
        with self.lock:
            entry.update(fields)
            entry["duration"] = round(time.time() - entry["time"], 6)
            if entry.get("error"):
                key = "upstream_errors" if entry["error"].startswith("upstream") else "client_errors"
                self.stats[key] += 1
            if self.log_file is not None:
                try:
                    self.log_file.write(json.dumps(entry, sort_keys=True) + "\n")
                    self.log_file.flush()
                except (OSError, ValueError):
                    pass

    def update(self, entry, **fields):
        with self.lock:
            entry.update(fields)

    # control endpoint helpers
    def log_snapshot(self, since=0):
        with self.lock:
            return [dict(e) for e in self.log if e["seq"] > since]

    def stats_snapshot(self):
        with self.lock:
            s = dict(self.stats)
            s["injected"] = dict(self.stats["injected"])
            s["rules"] = len(self.rules)
            s["random"] = ",".join("%s=%g" % ap for ap in self.random_spec)
            return s

    def rules_snapshot(self):
        with self.lock:
            out = []
            for r in self.rules:
                d = dict(r["spec"])
                d["count"] = r["count"]
                d["fired"] = r["fired"]
                out.append(d)
            return out

    def set_rules(self, rules):
        with self.lock:
            self.rules = rules

    def set_random(self, spec, seed=None):
        with self.lock:
            self.random_spec = spec
            if seed is not None:
                self.seed = seed
                self.rng = random.Random(seed)

    def reset(self):
        with self.lock:
            self.rules = []
            self.log = []
            self.reset_stats()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, state, upstream, idle_timeout, upstream_timeout, family,
                 ssl_context=None):
        self.address_family = family
        self.ssl_context = ssl_context    # None: plain HTTP
        self.handshake_timeout = min(idle_timeout, 30.0)
        self.state = state
        self.upstream = upstream          # (scheme, host, port, base_url)
        self.idle_timeout = idle_timeout
        self.upstream_timeout = upstream_timeout
        self.stopping = threading.Event()
        super().__init__(addr, handler)
        host = self.server_address[0]
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = "[%s]" % host
        scheme = "https" if ssl_context is not None else "http"
        self.public_base = "%s://%s:%d" % (scheme, host, self.server_address[1])

    def finish_request(self, request, client_address):
        """Runs in the connection's own thread: the TLS handshake happens here, not in the
        accept loop, so a slow or broken client cannot hold up the others."""
        if self.ssl_context is None:
            return super().finish_request(request, client_address)
        try:
            request.settimeout(self.handshake_timeout)
            # wrap_socket detaches `request`: shutdown_request() on it is then a no-op and
            # the TLS socket is closed below instead
            conn = self.ssl_context.wrap_socket(request, server_side=True,
                                                do_handshake_on_connect=False)
        except (OSError, ValueError):
            return
        try:
            try:
                conn.do_handshake()
            except (OSError, ValueError):   # ssl.SSLError is an OSError; timeouts, resets
                return
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            close_client(conn, rst=False)

    def handle_error(self, request, client_address):
        # keep stderr quiet about clients that simply went away
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout, ssl.SSLError,
                            ClientGone, ValueError)):
            return
        super().handle_error(request, client_address)


def close_client(sock, rst):
    """Close a client socket (plain or TLS); rst=True: the peer sees a connection reset.
    rst=False on TLS: send a close_notify first, without waiting for the peer's."""
    if sock.fileno() == -1:
        return
    if rst:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    else:
        if isinstance(sock, ssl.SSLSocket):
            try:
                sock.setblocking(False)
                sock.unwrap()
            except (OSError, ValueError):   # SSLWantReadError: the peer's close_notify not there
                pass
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    try:
        sock.close()
    except OSError:
        pass


class Request:
    __slots__ = ("method", "target", "version", "headers", "chunked", "length", "expect_continue",
                 "keep_alive", "continue_sent")

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


class Handler(socketserver.StreamRequestHandler):
    rbufsize = BLOCK

    # ------------------------------------------------------------------ setup --
    def setup(self):
        super().setup()
        self.upsock = None
        self.client_closed = False
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def finish(self):
        self.close_upstream()
        try:
            super().finish()
        except (OSError, ValueError):
            pass

    # ------------------------------------------------------------- main loop --
    def handle(self):
        srv = self.server
        while not self.client_closed and not srv.stopping.is_set():
            self.connection.settimeout(srv.idle_timeout)
            try:
                req = self.read_request()
            except (socket.timeout, TimeoutError, ConnectionError, OSError, ValueError):
                return
            except ProxyError as e:
                self.send_simple(400, "Bad Request", ("%s\n" % e).encode(), close=True)
                return
            if req is None:
                return
            self.connection.settimeout(srv.upstream_timeout)
            try:
                if req.target.startswith(CONTROL_PREFIX):
                    self.handle_control(req)
                else:
                    self.handle_proxy(req)
            except (ClientGone, ConnectionError, socket.timeout, TimeoutError, ValueError):
                self.abort_client(rst=False)
                return
            except OSError:
                self.abort_client(rst=False)
                return
            if not req.keep_alive:
                self.abort_client(rst=False)
                return

    # ---------------------------------------------------------- request read --
    def read_request(self):
        rfile = self.rfile
        line = rfile.readline(MAX_LINE + 1)
        while line in (b"\r\n", b"\n"):          # tolerate stray CRLF between requests
            line = rfile.readline(MAX_LINE + 1)
        if not line:
            return None
        if len(line) > MAX_LINE:
            raise ProxyError("request line too long")
        parts = line.rstrip(b"\r\n").split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            raise ProxyError("malformed request line")
        req = Request()
        req.method = parts[0].decode("latin-1")
        req.target = parts[1].decode("latin-1")
        req.version = parts[2].decode("latin-1")
        headers = []
        while True:
            h = rfile.readline(MAX_LINE + 1)
            if not h:
                raise ConnectionError("client closed during headers")
            if len(h) > MAX_LINE:
                raise ProxyError("header line too long")
            if h in (b"\r\n", b"\n"):
                break
            if h[:1] in (b" ", b"\t") and headers:   # obsolete line folding
                k, v = headers[-1]
                headers[-1] = (k, v + " " + h.strip().decode("latin-1"))
                continue
            name, sep, value = h.partition(b":")
            if not sep:
                raise ProxyError("malformed header line")
            headers.append((name.decode("latin-1"), value.strip(b" \t\r\n").decode("latin-1")))
            if len(headers) > MAX_HEADERS:
                raise ProxyError("too many headers")
        req.headers = headers
        te = (req.header("Transfer-Encoding") or "").lower()
        req.chunked = "chunked" in te
        req.length = 0
        if not req.chunked:
            cl = req.header("Content-Length")
            if cl is not None:
                try:
                    req.length = int(cl.strip())
                    if req.length < 0:
                        raise ValueError
                except ValueError:
                    raise ProxyError("bad Content-Length")
        req.expect_continue = (req.header("Expect") or "").lower() == "100-continue"
        req.continue_sent = False
        conn_tokens = {t.strip().lower() for t in (req.header("Connection") or "").split(",")}
        if req.version == "HTTP/1.1":
            req.keep_alive = "close" not in conn_tokens
        else:
            req.keep_alive = False   # HTTP/1.0: answer, then close
        return req

    def has_body(self, req):
        return req.chunked or req.length > 0

    def maybe_continue(self, req):
        if req.expect_continue and not req.continue_sent and self.has_body(req) and req.version == "HTTP/1.1":
            req.continue_sent = True
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def iter_body(self, req):
        """Yield the request body in blocks (de-chunked for chunked bodies)."""
        rfile = self.rfile
        if req.chunked:
            while True:
                line = rfile.readline(MAX_LINE + 1)
                if not line:
                    raise ClientGone("client closed during chunked body")
                size_s = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_s, 16)
                except ValueError:
                    raise ClientGone("bad chunk size")
                if size == 0:
                    while True:   # trailers
                        t = rfile.readline(MAX_LINE + 1)
                        if t in (b"\r\n", b"\n", b""):
                            return
                while size > 0:
                    data = rfile.read(min(BLOCK, size))
                    if not data:
                        raise ClientGone("client closed during chunked body")
                    size -= len(data)
                    yield data
                rfile.readline(MAX_LINE + 1)   # CRLF after chunk data
        else:
            remaining = req.length
            while remaining > 0:
                data = rfile.read(min(BLOCK, remaining))
                if not data:
                    raise ClientGone("client closed during body (%d bytes missing)" % remaining)
                remaining -= len(data)
                yield data

    def drain(self, req, entry):
        n = 0
        for data in self.iter_body(req):
            n += len(data)
        self.server.state.update(entry, bytes_in=n)
        return n

    # ---------------------------------------------------------------- output --
    def write(self, data):
        try:
            self.wfile.write(data)
        except (ConnectionError, OSError, ValueError) as e:
            raise ClientGone(str(e))

    def send_head(self, status, reason, headers, close):
        lines = ["HTTP/1.1 %d %s" % (status, reason)]
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if close:
            lines.append("Connection: close")
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace"))

    def send_simple(self, status, reason, body, ctype="text/plain; charset=utf-8", extra=(),
                    close=False, head=False):
        headers = [("Content-Type", ctype), ("Content-Length", str(len(body))),
                   ("Date", email.utils.formatdate(usegmt=True))]
        headers.extend(extra)
        self.send_head(status, reason, headers, close)
        if not head and body:
            self.write(body)
        return 0 if head else len(body)

    def abort_client(self, rst):
        """Close the client connection; with rst=True the peer sees a connection reset."""
        if self.client_closed:
            return
        self.client_closed = True
        if not rst:
            try:
                self.wfile.flush()
            except (OSError, ValueError):
                pass
        for f in (self.rfile, self.wfile):
            try:
                f.close()
            except (OSError, ValueError):
                pass
        close_client(self.connection, rst)

    # -------------------------------------------------------------- upstream --
    def close_upstream(self):
        if self.upsock is not None:
            try:
                self.upsock.close()
            except OSError:
                pass
            self.upsock = None

    def upstream_socket(self):
        if self.upsock is not None:
            # reuse only if the upstream has not closed it meanwhile (readable == EOF/garbage)
            try:
                r, _, _ = select.select([self.upsock], [], [], 0)
            except (OSError, ValueError):
                r = [True]
            if r:
                self.close_upstream()
        if self.upsock is None:
            _, host, port, _ = self.server.upstream
            s = socket.create_connection((host, port), timeout=self.server.upstream_timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.upsock = s
        return self.upsock

    # ----------------------------------------------------------------- proxy --
    def handle_proxy(self, req):
        state = self.server.state
        entry = state.new_entry(req.method, req.target)
        action = state.choose(req.method, req.target)
        if action is not None:
            state.note_injected(entry, action)
        try:
            if action is None or action == "truncate":
                self.forward(req, entry, truncate=(action == "truncate"))
            else:
                self.inject(req, entry, action)
        except ClientGone as e:
            state.finish(entry, error="client: %s" % e)
            raise
        except Exception as e:   # never let one request kill the thread silently
            state.finish(entry, error="proxy: %r" % (e,))
            raise ClientGone(str(e))

    def inject(self, req, entry, action):
        state = self.server.state
        head = req.method == "HEAD"
        if action == "reset-before-body":
            self.abort_client(rst=True)
            state.finish(entry, status=None)
            return
        m = PARAM_ACTION_RE.match(action)
        if m and m.group(1) == "stall":
            seconds = float(m.group(2))
            deadline = time.time() + seconds
            n = 0
            try:   # read (and drop) the body while stalling, so the final close is a FIN
                self.connection.settimeout(max(0.05, seconds))
                for data in self.iter_body(req):
                    n += len(data)
                    left = deadline - time.time()
                    if left <= 0:
                        break
                    self.connection.settimeout(max(0.05, left))
            except (ClientGone, OSError, ValueError):
                pass
            state.update(entry, bytes_in=n)
            remaining = deadline - time.time()
            if remaining > 0:
                self.server.stopping.wait(remaining)
            self.abort_client(rst=False)
            state.finish(entry, status=None)
            return
        # everything else reads the whole request body first
        self.maybe_continue(req)
        n_in = self.drain(req, entry)
        if action == "reset":
            self.abort_client(rst=True)
            state.finish(entry, status=None, bytes_in=n_in)
            return
        extra = [("X-Faultproxy-Injected", action)]
        close = not req.keep_alive
        if STATUS_ACTION_RE.match(action):
            status = int(action)
            reason = http.client.responses.get(status, "Injected")
            body = ("%d %s (injected by faultproxy)\n" % (status, reason)).encode()
            out = self.send_simple(status, reason, body, extra=extra, close=close, head=head)
        elif action == "slowdown":
            status = 503
            body = s3_error_xml("SlowDown", "Please reduce your request rate.")
            out = self.send_simple(503, "Slow Down", body, ctype="application/xml",
                                   extra=extra, close=close, head=head)
        elif m and m.group(1) == "skew":
            status = 403
            now = time.time()
            skewed = now + float(m.group(2))
            body = s3_error_xml(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
                [("RequestTime", req.header("X-Amz-Date") or req.header("Date") or ""),
                 ("ServerTime", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(skewed))),
                 ("MaxAllowedSkewMilliseconds", "900000")])
            headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body))),
                       ("Date", email.utils.formatdate(skewed, usegmt=True))] + extra
            self.send_head(403, "Forbidden", headers, close)
            if not head:
                self.write(body)
            out = 0 if head else len(body)
        elif action == "redirect307":
            status = 307
            base = self.server.upstream[3]
            location = base + req.target
            netloc = urllib.parse.urlsplit(base).netloc
            body = s3_error_xml("TemporaryRedirect",
                                "Please re-send this request to the specified temporary endpoint. "
                                "Continue to use the original request endpoint for future requests.",
                                [("Endpoint", netloc)])
            out = self.send_simple(307, "Temporary Redirect", body, ctype="application/xml",
                                   extra=[("Location", location)] + extra, close=close, head=head)
        else:   # validated earlier; unreachable
            raise ProxyError("unhandled action %s" % action)
        state.finish(entry, status=status, bytes_in=n_in, bytes_out=out)
        if close:
            self.abort_client(rst=False)

    def forward(self, req, entry, truncate):
        state = self.server.state
        srv = self.server
        # request head for the upstream: target and headers as received, minus hop-by-hop
        conn_listed = {t.strip().lower() for t in (req.header("Connection") or "").split(",") if t.strip()}
        lines = ["%s %s HTTP/1.1" % (req.method, req.target)]
        for k, v in req.headers:
            lk = k.lower()
            if lk in HOP_BY_HOP or lk in conn_listed:
                continue
            lines.append("%s: %s" % (k, v))
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        # connect + send head (one retry on a stale kept-alive connection)
        sock = None
        for attempt in (1, 2):
            try:
                fresh = self.upsock is None
                sock = self.upstream_socket()
                sock.sendall(head_bytes)
                break
            except OSError as e:
                self.close_upstream()
                sock = None
                if attempt == 2 or fresh:
                    self.fail_upstream(req, entry, "upstream connect/send: %s" % e)
                    return
        state.note_forwarded()

        # body
        self.maybe_continue(req)
        n_in = 0
        send_failed = None
        for data in self.iter_body(req):
            n_in += len(data)
            if send_failed is None:
                try:
                    if req.chunked:
                        sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
                    else:
                        sock.sendall(data)
                except OSError as e:
                    send_failed = e
                    # the upstream may have answered early (e.g. 401/413): stop reading
                    # the body and try to relay that answer, then close the client side
                    break
        if req.chunked and send_failed is None:
            try:
                sock.sendall(b"0\r\n\r\n")
            except OSError as e:
                send_failed = e
        state.update(entry, bytes_in=n_in)
        if send_failed is not None:
            req.keep_alive = False

        # response
        resp = http.client.HTTPResponse(sock, method=req.method)
        try:
            resp.begin()
        except (OSError, http.client.HTTPException) as e:
            try:
                resp.close()
            except Exception:
                pass
            self.close_upstream()
            why = "upstream response: %r" % (e,)
            if send_failed is not None:
                why += " (after send error %r)" % (send_failed,)
            self.fail_upstream(req, entry, why, bytes_in=n_in)
            return
        status = resp.status
        state.update(entry, status=status)

        no_body = (req.method == "HEAD" or status in (204, 304) or 100 <= status < 200)
        resp_conn = {t.strip().lower() for t in (resp.getheader("Connection") or "").split(",") if t.strip()}
        headers = []
        storage_rewrite = None
        for k, v in resp.msg.items():
            lk = k.lower()
            if lk in HOP_BY_HOP or lk in resp_conn or lk == "transfer-encoding":
                continue
            if lk == "content-length" and resp.chunked:
                continue
            if lk == "x-storage-url":
                parts = urllib.parse.urlsplit(v)
                if parts.scheme and parts.netloc:
                    old = "%s://%s" % (parts.scheme, parts.netloc)
                    v = srv.public_base + v[len(old):]
                    storage_rewrite = (old.encode("latin-1"), srv.public_base.encode("latin-1"))
            headers.append((k, v))

        close = not req.keep_alive
        out = 0
        upstream_done = False
        try:
            if no_body:
                self.send_head(status, resp.reason, headers, close or truncate)
                resp.read()   # nothing, but marks the response complete
                upstream_done = True
            elif (storage_rewrite is not None and not resp.chunked and resp.length is not None
                  and resp.length <= REWRITE_BODY_MAX):
                body = resp.read()
                upstream_done = True
                body = body.replace(storage_rewrite[0], storage_rewrite[1])
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers.append(("Content-Length", str(len(body))))
                self.send_head(status, resp.reason, headers, close or truncate)
                limit = len(body) // 2 if truncate else len(body)
                self.write(body[:limit])
                out = limit
            elif resp.length is not None and not resp.chunked:
                self.send_head(status, resp.reason, headers, close)
                total = resp.length
                limit = total // 2 if truncate else total
                out = self.copy_body(resp, limit, chunked=False, entry=entry)
                upstream_done = not truncate and out == total
            else:
                use_chunked = req.version == "HTTP/1.1"
                if use_chunked:
                    headers.append(("Transfer-Encoding", "chunked"))
                else:
                    close = True
                self.send_head(status, resp.reason, headers, close)
                if truncate:
                    data = resp.read1(BLOCK) if hasattr(resp, "read1") else resp.read(BLOCK)
                    data = data[:max(1, len(data) // 2)] if data else b""
                    if data:
                        self.write((b"%x\r\n" % len(data) + data + b"\r\n") if use_chunked else data)
                    out = len(data)
                else:
                    out = self.copy_body(resp, None, chunked=use_chunked, entry=entry)
                    if use_chunked:
                        self.write(b"0\r\n\r\n")
                    upstream_done = True
        except http.client.IncompleteRead as e:
            self.close_upstream()
            state.finish(entry, status=status, bytes_in=n_in, bytes_out=out,
                         error="upstream: incomplete body (%r)" % (e,))
            self.abort_client(rst=False)
            return
        except (OSError, http.client.HTTPException) as e:
            self.close_upstream()
            state.finish(entry, status=status, bytes_in=n_in, bytes_out=out,
                         error="upstream: %r" % (e,))
            self.abort_client(rst=False)
            return
        finally:
            if not upstream_done or resp.will_close:
                self.close_upstream()
            try:
                resp.close()
            except Exception:
                pass
        state.finish(entry, status=status, bytes_in=n_in, bytes_out=out)
        if truncate or close:
            self.abort_client(rst=False)

    def copy_body(self, resp, limit, chunked, entry):
        """Copy the upstream body to the client; limit=None: until the end."""
        out = 0
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        while limit is None or out < limit:
            want = BLOCK if limit is None else min(BLOCK, limit - out)
            n = resp.readinto(view[:want])
            if not n:
                if limit is not None:
                    raise http.client.IncompleteRead(b"", limit - out)
                break
            if chunked:
                self.write(b"%x\r\n" % n)
                self.write(view[:n])
                self.write(b"\r\n")
            else:
                self.write(view[:n])
            out += n
        self.server.state.update(entry, bytes_out=out)
        return out

    def fail_upstream(self, req, entry, why, bytes_in=None):
        state = self.server.state
        n_in = bytes_in
        if n_in is None:
            # keep the client connection in sync: consume its body
            try:
                self.maybe_continue(req)
                n_in = self.drain(req, entry)
            except ClientGone:
                req.keep_alive = False
                n_in = 0
        body = ("502 Bad Gateway (faultproxy): %s\n" % why).encode("utf-8", "replace")
        close = not req.keep_alive
        out = self.send_simple(502, "Bad Gateway", body, close=close, head=req.method == "HEAD")
        state.finish(entry, status=502, bytes_in=n_in, bytes_out=out, error=why)
        if close:
            self.abort_client(rst=False)
        sys.stderr.write("faultproxy: %s %s: %s\n" % (req.method, req.target, why))

    # --------------------------------------------------------------- control --
    def handle_control(self, req):
        state = self.server.state
        body = b""
        if self.has_body(req):
            self.maybe_continue(req)
            chunks = []
            size = 0
            for data in self.iter_body(req):
                size += len(data)
                if size > 16 * 1024 * 1024:
                    raise ClientGone("control body too large")
                chunks.append(data)
            body = b"".join(chunks)
        parts = urllib.parse.urlsplit(req.target)
        name = parts.path[len(CONTROL_PREFIX):].strip("/")
        query = urllib.parse.parse_qs(parts.query)
        close = not req.keep_alive
        method = req.method.upper()

        def reply(status, obj):
            data = (json.dumps(obj, indent=None) + "\n").encode()
            self.send_simple(status, http.client.responses.get(status, ""), data,
                             ctype="application/json", close=close, head=method == "HEAD")

        try:
            if name == "log" and method in ("GET", "HEAD"):
                since = int(query.get("since", ["0"])[0])
                reply(200, state.log_snapshot(since))
            elif name == "stats" and method in ("GET", "HEAD"):
                reply(200, state.stats_snapshot())
            elif name == "rules" and method in ("GET", "HEAD"):
                reply(200, state.rules_snapshot())
            elif name == "rules" and method in ("POST", "PUT"):
                rules = parse_rules(body.decode("utf-8") if body.strip() else "[]")
                state.set_rules(rules)
                reply(200, {"ok": True, "rules": len(rules)})
            elif name == "random" and method in ("POST", "PUT"):
                spec = parse_random(body.decode("utf-8"))
                seed = query.get("seed", [None])[0]
                state.set_random(spec, int(seed) if seed is not None else None)
                reply(200, {"ok": True, "random": spec})
            elif name == "reset" and method in ("POST", "PUT"):
                state.reset()
                reply(200, {"ok": True})
            elif name == "health" and method in ("GET", "HEAD"):
                reply(200, {"ok": True, "port": self.server.server_address[1],
                            "tls": self.server.ssl_context is not None})
            else:
                reply(404, {"error": "unknown control endpoint %s %s" % (method, parts.path)})
        except (ValueError, json.JSONDecodeError) as e:
            reply(400, {"error": str(e)})
        if close:
            self.abort_client(rst=False)


# ---------------------------------------------------------------------- main --
def parse_upstream(url):
    p = urllib.parse.urlsplit(url)
    if p.scheme != "http" or not p.hostname:
        raise ValueError("--upstream must be http://HOST:PORT (got %r)" % url)
    if p.path not in ("", "/") or p.query:
        raise ValueError("--upstream must not have a path (got %r)" % url)
    port = p.port or 80
    return ("http", p.hostname, port, "http://%s" % p.netloc)


def parse_listen(value):
    if value.startswith("["):
        host, _, port = value[1:].partition("]:")
        return host, int(port), socket.AF_INET6
    host, sep, port = value.rpartition(":")
    if not sep:
        return "127.0.0.1", int(value), socket.AF_INET
    return host or "127.0.0.1", int(port), socket.AF_INET


def make_ssl_context(cert, key):
    """None without TLS options; a server context (TLS 1.2+) with both."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ValueError("--tls-cert and --tls-key go together")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ValueError) as e:
        raise ValueError("cannot load --tls-cert %s / --tls-key %s: %s" % (cert, key, e))
    try:
        ctx.set_alpn_protocols(["http/1.1"])
    except (NotImplementedError, AttributeError):
        pass
    return ctx


def main(argv=None):
    ap = argparse.ArgumentParser(description="fault-injecting HTTP/1.1 reverse proxy for tests")
    ap.add_argument("--upstream", required=True, help="http://HOST:PORT")
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: pick a free one)")
    ap.add_argument("--port-file", help="write the listening port here once listening")
    ap.add_argument("--log", help="append the access log as JSON lines to this file")
    ap.add_argument("--rules", help="JSON list of rules, or @FILE")
    ap.add_argument("--seed", type=int, default=None, help="seed for --random")
    ap.add_argument("--random", default="", help="e.g. 503=0.05,reset=0.02,stall:2=0.01")
    ap.add_argument("--idle-timeout", type=float, default=120.0,
                    help="close idle client connections after this many seconds")
    ap.add_argument("--upstream-timeout", type=float, default=300.0,
                    help="socket timeout towards the upstream (and for request bodies)")
    ap.add_argument("--tls-cert", metavar="FILE",
                    help="serve HTTPS (TLS 1.2+) with this PEM certificate (chain); needs --tls-key")
    ap.add_argument("--tls-key", metavar="FILE", help="PEM private key for --tls-cert")
    ap.add_argument("--quiet", action="store_true", help="do not print 'listening PORT'")
    args = ap.parse_args(argv)

    try:
        upstream = parse_upstream(args.upstream)
        host, port, family = parse_listen(args.listen)
        rules = load_rules_arg(args.rules)
        rnd = parse_random(args.random)
        ssl_context = make_ssl_context(args.tls_cert, args.tls_key)
    except (ValueError, OSError) as e:   # ssl.SSLError is an OSError
        sys.stderr.write("faultproxy: %s\n" % e)
        return 2

    if args.port_file:
        try:
            os.unlink(args.port_file)
        except FileNotFoundError:
            pass

    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    try:
        state = State(rules, rnd, seed, args.log)
        server = Server((host, port), Handler, state, upstream, args.idle_timeout,
                        args.upstream_timeout, family, ssl_context)
    except OSError as e:
        sys.stderr.write("faultproxy: cannot listen on %s: %s\n" % (args.listen, e))
        return 1
    real_port = server.server_address[1]

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    except (AttributeError, ValueError):
        pass

    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                         name="faultproxy-accept", daemon=True)
    t.start()

    if args.port_file:
        tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % real_port)
        os.replace(tmp, args.port_file)
    if not args.quiet:
        print("listening %d" % real_port, flush=True)
    if args.random:
        sys.stderr.write("faultproxy: random faults %s, seed %d\n" % (args.random, seed))

    while not stop.wait(0.5):
        if not t.is_alive():
            break
    server.stopping.set()
    server.shutdown()
    server.server_close()
    if args.port_file:
        try:
            os.unlink(args.port_file)
        except OSError:
            pass
    if state.log_file is not None:
        with state.lock:
            state.log_file.close()
            state.log_file = None
    return 0


if __name__ == "__main__":
    sys.exit(main())
