#!/usr/bin/env python3
"""A stand-in Audit Record Repository for the audit shipping tests (issue #7 §3).

    python3 Tests/upstream/audit_repository.py --port 0 --tls-cert PEM --tls-key PEM \
        --authorization "Bearer abc" --fail 3

prints `READY <port>` once listening (TLS 1.2+, HTTP/1.1 keep-alive). Every `POST /fhir` is recorded.
A POST without exactly the expected `Authorization` value is answered 401; the first `--fail` authorised
POSTs are answered 503; after that a `batch` Bundle is stored (AuditEvent by id) and answered with a
`batch-response` carrying one `201 Created` per entry (`200 OK` for an id already stored).

`GET /__control/state` (same port) answers `{"posts": [{"status", "authorized", "ids"}], "stored": {id: n},
"handshakeFailures": k}` where n counts how often the id was stored (every record delivered exactly once
means n == 1 for all) and k the TLS handshakes that failed (a client that did not trust the certificate).
Python stdlib only.
"""

import argparse
import json
import socketserver
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, authorization: str, fail: int):
        self.lock = threading.Lock()
        self.authorization = authorization
        self.fail_remaining = fail
        self.posts: list[dict] = []
        self.stored: dict[str, int] = {}
        self.handshake_failures = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def setup(self) -> None:
        super().setup()
        self.handshake_failed = False
        try:
            self.connection.do_handshake()  # in this connection's thread, not the accepting one
        except (ssl.SSLError, OSError):
            with self.state.lock:
                self.state.handshake_failures += 1  # e.g. the client did not trust this certificate
            self.handshake_failed = True

    def handle(self) -> None:
        if not self.handshake_failed:
            super().handle()

    def log_message(self, fmt, *args):  # quiet: the test reads /__control/state
        pass

    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json" if status != 204 else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path != "/__control/state":
            return self.reply(404, {"resourceType": "OperationOutcome"})
        with self.state.lock:
            self.reply(200, {"posts": self.state.posts, "stored": self.state.stored,
                             "handshakeFailures": self.state.handshake_failures})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        state = self.state
        authorized = self.headers.get("Authorization") == state.authorization
        try:
            bundle = json.loads(raw)
            ids = [entry["resource"]["id"] for entry in bundle.get("entry", [])]
        except (ValueError, KeyError, TypeError):
            bundle, ids = None, []
        with state.lock:
            if self.path != "/fhir" or bundle is None:
                status = 400
            elif not authorized:
                status = 401
            elif state.fail_remaining > 0:
                state.fail_remaining -= 1
                status = 503
            else:
                status = 200
            state.posts.append({"status": status, "authorized": authorized, "ids": ids})
            results = []
            if status == 200:
                for resource_id in ids:
                    seen = state.stored.get(resource_id, 0)
                    state.stored[resource_id] = seen + 1
                    results.append({"response": {"status": "200 OK" if seen else "201 Created"}})
        if status != 200:
            return self.reply(status, {"resourceType": "OperationOutcome",
                                       "issue": [{"severity": "error", "code": "exception"}]})
        self.reply(200, {"resourceType": "Bundle", "type": "batch-response", "entry": results})


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, handler, context: ssl.SSLContext):
        super().__init__(addr, handler)
        self.context = context

    def server_bind(self) -> None:  # HTTPServer.server_bind would resolve the host name: not needed
        socketserver.TCPServer.server_bind(self)

    def get_request(self):
        sock, addr = super().get_request()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-cert", required=True)
    parser.add_argument("--tls-key", required=True)
    parser.add_argument("--authorization", required=True)
    parser.add_argument("--fail", type=int, default=0)
    args = parser.parse_args(argv)

    Handler.state = State(args.authorization, args.fail)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.tls_cert, args.tls_key)
    context.set_alpn_protocols(["http/1.1"])
    server = TLSServer(("127.0.0.1", args.port), Handler, context)
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
