#!/usr/bin/env python3
"""Recording test upstream for the gateway's integration tests (Python stdlib only).

Data port (HTTP/1.1, keep-alive): every request is recorded exactly as it arrived and answered with the
newest matching canned response, or by default with
    200 application/fhir+json {"resourceType":"Bundle","type":"searchset","entry":[]}

Control port (JSON):
    POST /__control/responses   add a canned response; body:
        {"method": "GET"                       optional; absent or "*" = any method
         "path": "/fhir/Patient/1"             exact match on the target's path (query ignored), or
         "target": "/fhir/Patient?x=1"         exact match on the whole request target, or
         "prefix": "/fhir/MedicationDispense"  match on the start of the target; none of the three = any
         "status": 200, "reason": "OK",
         "headers": {"Content-Type": "..."} or [["Name", "value"], ...]   (kept in order; may repeat)
         "body": "text" | {...} | [...]        JSON values are serialized; or "bodyBase64": "..."
         "times": 1                            optional: serve this many times, then forget it
         "delayMs": 0                          optional: wait before answering (upstream timeout tests)
         "action": "respond" | "close"         "close" drops the connection without answering}
        -> 201 {"id": N}
    GET  /__control/requests    -> 200 [recorded request, ...] (oldest first)
    POST /__control/reset       -> 204; forgets recorded requests and canned responses
    GET  /__control/health      -> 200 {"ok": true}

A recorded request:
    {"seq", "connection" (same number = same TCP connection), "method", "target", "version",
     "headers": [[name, value], ...] (order and case as received), "head" (request line + header
     lines + blank line, decoded as latin-1), "headBase64", "bodyBase64" (payload, de-chunked),
     "bodyRawBase64" (bytes as framed on the wire), "chunked", "trailers", "response" (canned id or null),
     "error" (framing problem or null), "tls" ({"version", "alpn", "sni"} with --tls-cert, else null)}

Usage: recorder.py [--host 127.0.0.1] [--port 0] [--control-port 0] [--tls-cert PEM --tls-key PEM]
Prints `READY <port> <controlport>` on stdout once both listeners are up (port 0 = ephemeral).
"""
from __future__ import annotations

import argparse
import base64
import json
import signal
import socketserver
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
IDLE_TIMEOUT = 120  # seconds a kept-alive connection may sit idle
DEFAULT_BODY = b'{"resourceType":"Bundle","type":"searchset","entry":[]}'
REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
           304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           410: "Gone", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


class FramingError(Exception):
    pass


class State:
    """Recorded requests and canned responses, shared by both listeners."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.responses: list[dict] = []
        self.next_response_id = 1
        self.next_connection = 1

    def new_connection(self) -> int:
        with self.lock:
            n = self.next_connection
            self.next_connection += 1
            return n

    def record(self, entry: dict) -> None:
        with self.lock:
            entry["seq"] = len(self.requests) + 1
            self.requests.append(entry)

    def add_response(self, spec: dict) -> int:
        with self.lock:
            spec["id"] = self.next_response_id
            self.next_response_id += 1
            self.responses.append(spec)
            return spec["id"]

    def match(self, method: str, target: str) -> dict | None:
        path = target.split("?", 1)[0]
        with self.lock:
            for spec in reversed(self.responses):  # the newest matching rule wins
                if spec["method"] not in ("*", method):
                    continue
                if spec.get("path") is not None and spec["path"] != path:
                    continue
                if spec.get("target") is not None and spec["target"] != target:
                    continue
                if spec.get("prefix") is not None and not target.startswith(spec["prefix"]):
                    continue
                if spec.get("times") is not None:
                    spec["times"] -= 1
                    if spec["times"] <= 0:
                        self.responses.remove(spec)
                return dict(spec)
        return None

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.responses.clear()


def validate_spec(raw: object) -> dict:
    """Normalize a canned-response spec from the control API; raises ValueError with a reason."""
    if not isinstance(raw, dict):
        raise ValueError("body must be a JSON object")
    known = {"method", "path", "target", "prefix", "status", "reason", "headers", "body", "bodyBase64", "times",
             "delayMs", "action"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    spec: dict = {"method": raw.get("method") or "*"}
    for key in ("path", "target", "prefix"):
        if raw.get(key) is not None:
            if not isinstance(raw[key], str):
                raise ValueError(f"{key} must be a string")
            spec[key] = raw[key]
    status = raw.get("status", 200)
    if not isinstance(status, int) or not 100 <= status <= 999:
        raise ValueError("status must be an integer 100-999")
    spec["status"] = status
    spec["reason"] = str(raw.get("reason") or REASONS.get(status, "Status"))
    headers = raw.get("headers", [])
    if isinstance(headers, dict):
        headers = list(headers.items())
    if not isinstance(headers, list) or not all(
            isinstance(h, (list, tuple)) and len(h) == 2 and all(isinstance(x, str) for x in h) for h in headers):
        raise ValueError("headers must be an object or a list of [name, value] pairs")
    if any("\r" in x or "\n" in x for h in headers for x in h):
        raise ValueError("header names and values cannot contain CR or LF")
    spec["headers"] = [list(h) for h in headers]
    if "bodyBase64" in raw:
        spec["body"] = base64.b64decode(raw["bodyBase64"], validate=True)
    elif "body" not in raw or raw["body"] is None:
        spec["body"] = b""
    elif isinstance(raw["body"], str):
        spec["body"] = raw["body"].encode()
    else:
        spec["body"] = json.dumps(raw["body"], separators=(",", ":")).encode()
    if raw.get("times") is not None and (not isinstance(raw["times"], int) or raw["times"] < 1):
        raise ValueError("times must be a positive integer")
    spec["times"] = raw.get("times")
    delay = raw.get("delayMs", 0)
    if not isinstance(delay, (int, float)) or delay < 0:
        raise ValueError("delayMs must be a non-negative number")
    spec["delayMs"] = delay
    action = raw.get("action", "respond")
    if action not in ("respond", "close"):
        raise ValueError("action must be respond or close")
    spec["action"] = action
    return spec


# ---------------------------------------------------------------- data port

class DataHandler(socketserver.StreamRequestHandler):
    """Reads HTTP/1.1 requests by hand so that the head's raw bytes can be recorded."""

    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True

    def setup(self) -> None:
        self.tls: dict | None = None
        self.tls_error: str | None = None
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.settimeout(10)
                self.request.do_handshake()
                self.tls = {"version": self.request.version(), "alpn": self.request.selected_alpn_protocol(),
                            "sni": getattr(self.request, "sni_name", None)}
            except (OSError, ssl.SSLError) as e:
                self.tls_error = str(e)
        super().setup()

    def handle(self) -> None:
        if self.tls_error is not None:
            return  # failed handshakes are not requests: nothing to record
        state: State = self.server.state
        conn_id = state.new_connection()
        while True:
            try:
                head = self.read_head()
            except (OSError, FramingError):
                return
            if head is None:
                return  # the client closed the connection between requests
            entry = self.parse(head, conn_id)
            try:
                if not self.exchange(state, entry):
                    return
            except OSError:
                return  # the client went away: what it sent is already recorded

    def exchange(self, state: State, entry: dict) -> bool:
        """Reads the body, records the request, answers it; False when the connection must end."""
        if entry["error"] is None and entry["expectContinue"]:
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        try:
            if entry["error"] is None:
                self.read_body(entry)
        except (OSError, FramingError) as e:
            entry["error"] = f"body: {e}"
        spec = state.match(entry["method"], entry["target"]) if entry["error"] is None else None
        entry["response"] = spec["id"] if spec else None
        state.record(entry)
        if entry["error"] is not None:
            self.answer(400, "Bad Request", [["Content-Type", "text/plain"]], entry["error"].encode(),
                        close=True, head_only=False)
            return False
        if spec and spec["delayMs"]:
            time.sleep(spec["delayMs"] / 1000)
        if spec and spec["action"] == "close":
            return False  # drop the connection without a response
        close = self.wants_close(entry)
        head_only = entry["method"] == "HEAD"
        if spec:
            self.answer(spec["status"], spec["reason"], spec["headers"], spec["body"], close, head_only)
        else:
            self.answer(200, "OK", [["Content-Type", "application/fhir+json"]], DEFAULT_BODY, close, head_only)
        return not close

    def read_head(self) -> bytes | None:
        raw = bytearray()
        while True:
            line = self.rfile.readline(MAX_HEAD + 1)
            if not line:
                if raw:
                    raise FramingError("connection closed inside the head")
                return None
            if not raw and line in (b"\r\n", b"\n"):
                continue  # RFC 9112 §2.2: ignore empty lines before the request line
            raw += line
            if len(raw) > MAX_HEAD:
                raise FramingError("head too large")
            if line in (b"\r\n", b"\n"):
                return bytes(raw)

    def parse(self, head: bytes, conn_id: int) -> dict:
        text = head.decode("latin-1")
        lines = text.split("\n")
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines][:-2]  # drop the blank line
        entry = {"seq": 0, "time": time.time(), "connection": conn_id, "peer": self.client_address[0],
                 "method": "", "target": "", "version": "", "headers": [], "head": text,
                 "headBase64": base64.b64encode(head).decode(), "bodyBase64": "", "bodyRawBase64": "",
                 "chunked": False, "trailers": [], "response": None, "error": None, "expectContinue": False,
                 "tls": self.tls}
        parts = lines[0].split(" ") if lines else []
        if len(parts) != 3:
            entry["error"] = "malformed request line"
            return entry
        entry["method"], entry["target"], entry["version"] = parts
        headers: list[list[str]] = []
        for ln in lines[1:]:
            if ln[:1] in (" ", "\t") and headers:
                headers[-1][1] += " " + ln.strip()  # obs-fold: recorded raw in `head`, joined here
                continue
            name, sep, value = ln.partition(":")
            if not sep:
                entry["error"] = f"malformed header line {ln!r}"
                return entry
            headers.append([name, value.strip(" \t")])
        entry["headers"] = headers
        entry["expectContinue"] = any(n.lower() == "expect" and v.lower() == "100-continue" for n, v in headers)
        return entry

    def read_body(self, entry: dict) -> None:
        hdrs = [(n.lower(), v) for n, v in entry["headers"]]
        te = ",".join(v for n, v in hdrs if n == "transfer-encoding").lower()
        cls = [v for n, v in hdrs if n == "content-length"]
        if te:
            if te.replace(" ", "").split(",")[-1] != "chunked":
                raise FramingError(f"unsupported transfer-encoding {te!r}")
            entry["chunked"] = True
            body, raw, trailers = self.read_chunked()
            entry["trailers"] = trailers
        elif cls:
            if len(set(cls)) != 1 or not cls[0].isdigit():
                raise FramingError(f"bad content-length {cls!r}")
            n = int(cls[0])
            if n > MAX_BODY:
                raise FramingError("body too large")
            body = self.rfile.read(n)
            if len(body) != n:
                raise FramingError("connection closed inside the body")
            raw = body
        else:
            body = raw = b""
        entry["bodyBase64"] = base64.b64encode(body).decode()
        entry["bodyRawBase64"] = base64.b64encode(raw).decode()

    def read_chunked(self) -> tuple[bytes, bytes, list]:
        body, raw = bytearray(), bytearray()
        while True:
            line = self.rfile.readline(1024)
            raw += line
            if not line.endswith(b"\n"):
                raise FramingError("malformed chunk header")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise FramingError("malformed chunk size")
            if size == 0:
                trailers = []
                while True:
                    t = self.rfile.readline(8192)
                    raw += t
                    if t in (b"\r\n", b"\n", b""):
                        return bytes(body), bytes(raw), trailers
                    name, _, value = t.decode("latin-1").rstrip("\r\n").partition(":")
                    trailers.append([name, value.strip()])
            if len(body) + size > MAX_BODY:
                raise FramingError("body too large")
            data = self.rfile.read(size)
            crlf = self.rfile.readline(3)
            raw += data + crlf
            if len(data) != size or crlf not in (b"\r\n", b"\n"):
                raise FramingError("malformed chunk data")
            body += data

    @staticmethod
    def wants_close(entry: dict) -> bool:
        tokens = {t.strip().lower() for n, v in entry["headers"] if n.lower() == "connection" for t in v.split(",")}
        if entry["version"] == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens

    def answer(self, status: int, reason: str, headers: list, body: bytes, close: bool, head_only: bool) -> None:
        out = [f"HTTP/1.1 {status} {reason}"]
        names = {n.lower() for n, _ in headers}
        out += [f"{n}: {v}" for n, v in headers]
        if "content-length" not in names and "transfer-encoding" not in names and not (
                status in (204, 304) or 100 <= status < 200):
            out.append(f"Content-Length: {len(body)}")
        if close and "connection" not in names:
            out.append("Connection: close")
        data = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
        if not head_only and status not in (204, 304):
            data += body
        self.wfile.write(data)
        self.wfile.flush()


class DataServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, state: State, tls: ssl.SSLContext | None = None):
        super().__init__(addr, DataHandler)
        self.state = state
        self.tls = tls

    def server_bind(self) -> None:  # HTTPServer.server_bind would resolve the host name: not needed
        socketserver.TCPServer.server_bind(self)

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls is not None:  # the handshake runs in the connection's own thread (DataHandler.setup)
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])

    def remember_sni(sock, name, _ctx):
        sock.sni_name = name  # recorded per connection as tls.sni

    ctx.sni_callback = remember_sni
    return ctx


# ---------------------------------------------------------------- control port

class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the tests read the recorded list instead
        pass

    def reply(self, status: int, body: object | None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        state: State = self.server.state
        if path == "/__control/requests":
            with state.lock:
                recorded = [{k: v for k, v in r.items() if k != "expectContinue"} for r in state.requests]
            self.reply(200, recorded)
        elif path == "/__control/health":
            self.reply(200, {"ok": True})
        else:
            self.reply(404, {"error": "unknown control endpoint"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        state: State = self.server.state
        length = self.headers.get("Content-Length", "0")
        body = self.rfile.read(int(length)) if length.isdigit() else b""
        if path == "/__control/reset":
            state.reset()
            self.reply(204, None)
        elif path == "/__control/responses":
            try:
                spec = validate_spec(json.loads(body or b"null"))
            except (ValueError, TypeError) as e:
                self.reply(400, {"error": str(e)})
                return
            self.reply(201, {"id": state.add_response(spec)})
        else:
            self.reply(404, {"error": "unknown control endpoint"})


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, state: State):
        super().__init__(addr, ControlHandler)
        self.state = state


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Recording HTTP/1.1 test upstream")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--tls-cert", help="PEM certificate chain: the data port speaks TLS (ALPN http/1.1)")
    ap.add_argument("--tls-key", help="PEM private key for --tls-cert")
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    state = State()
    data = DataServer((args.host, args.port), state,
                      tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None)
    control = ControlServer((args.host, args.control_port), state)
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
               for s in (data, control)]
    for t in threads:
        t.start()
    print(f"READY {data.server_address[1]} {control.server_address[1]}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    data.shutdown()
    control.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
