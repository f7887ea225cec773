#!/usr/bin/env python3
"""Hold many idle TLS keep-alive connections open against a proxy and report the proxy's memory.

  idle.py --port P --ca CA.pem --proto h1|h2 --count N --root PID [--path /fhir/Patient/p1]
          [--hold SEC] [--deadline SEC]

Each connection completes a TLS handshake (ALPN http/1.1 or h2), makes one GET so the server has set up
its per-connection protocol state, then stays idle. HTTP/2 is spoken by hand: client preface, SETTINGS,
one HEADERS frame (HPACK without Huffman or indexing, RFC 7541 §6.2.2), SETTINGS ACK (RFC 9113 §6.5.3).
Once all are open, the RSS of the server's process tree (PID and descendants) is sampled for --hold
seconds. Prints one JSON line: wanted, opened, failed, baseline/peak RSS in KiB, server_alive, note.
"""
import argparse
import concurrent.futures
import json
import os
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rss  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_DATA, FRAME_HEADERS, FRAME_RST, FRAME_SETTINGS, FRAME_GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x7
FLAG_END_STREAM, FLAG_ACK, FLAG_END_HEADERS = 0x1, 0x1, 0x4


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def hpack_literal(name_index, value):
    # Literal header field without indexing, indexed name (RFC 7541 §6.2.2); values are < 127 bytes.
    raw = value.encode()
    return bytes([name_index, len(raw)]) + raw


def h2_request_block(authority, path):
    # Static table (RFC 7541 Appendix A): 2 = :method GET, 7 = :scheme https, 4 = :path, 1 = :authority.
    return b"\x82\x87" + hpack_literal(4, path) + hpack_literal(1, authority)


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by server")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by server")
            self.buf += chunk
        head, self.buf = self.buf.split(marker, 1)
        return head


def h1_exchange(sock, authority, path):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/fhir+json\r\n\r\n".encode())
    r = Reader(sock)
    head = r.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:] if ":" in h)}
    if "content-length" in headers:
        r.need(int(headers["content-length"]))
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int(r.until(b"\r\n").split(b";")[0], 16)
            r.need(size + 2)
            if size == 0:
                break
    if not 200 <= status < 300:
        raise ConnectionError(f"HTTP status {status}")


def h2_exchange(sock, authority, path):
    sock.sendall(PREFACE + frame(FRAME_SETTINGS, 0, 0)
                 + frame(FRAME_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 1, h2_request_block(authority, path)))
    r = Reader(sock)
    while True:
        header = r.need(9)
        length = struct.unpack(">I", b"\x00" + header[:3])[0]
        ftype, flags, stream = header[3], header[4], struct.unpack(">I", header[5:9])[0] & 0x7FFFFFFF
        r.need(length)
        if ftype == FRAME_SETTINGS and not flags & FLAG_ACK:
            sock.sendall(frame(FRAME_SETTINGS, FLAG_ACK, 0))
        elif ftype in (FRAME_RST, FRAME_GOAWAY):
            raise ConnectionError(f"server sent frame type {ftype}")
        elif ftype in (FRAME_DATA, FRAME_HEADERS) and stream == 1 and flags & FLAG_END_STREAM:
            return


def open_one(ctx, port, proto, path):
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    want = "h2" if proto == "h2" else "http/1.1"
    if sock.selected_alpn_protocol() != want:
        sock.close()
        raise ConnectionError(f"ALPN gave {sock.selected_alpn_protocol()!r}, wanted {want}")
    authority = f"127.0.0.1:{port}"
    (h2_exchange if proto == "h2" else h1_exchange)(sock, authority, path)
    return sock


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--proto", choices=("h1", "h2"), required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--root", type=int, required=True)
    ap.add_argument("--path", default="/fhir/Patient/p1")
    ap.add_argument("--hold", type=float, default=2.0)
    ap.add_argument("--deadline", type=float, default=60.0)
    args = ap.parse_args()

    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.set_alpn_protocols(["h2"] if args.proto == "h2" else ["http/1.1"])
    baseline = rss.tree_rss_kib(args.root)
    socks, failed, errors = [], 0, []
    stop_at = time.monotonic() + args.deadline

    def attempt(_):
        if time.monotonic() > stop_at:
            raise TimeoutError("deadline reached while opening")
        return open_one(ctx, args.port, args.proto, args.path)

    # A few threads overlap the handshakes' network waits (and keep up on a busy machine).
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(attempt, i) for i in range(args.count)]:
            try:
                socks.append(future.result())
            except (OSError, ValueError, IndexError) as exc:
                failed += 1
                errors.append(str(exc)[:120])
                if failed >= 20 and not socks:
                    pool.shutdown(cancel_futures=True)  # the server does not speak this protocol at all
                    break
    first_error = errors[0] if errors else ""
    peak = 0
    end = time.monotonic() + args.hold
    while time.monotonic() < end:
        peak = max(peak, rss.tree_rss_kib(args.root))
        time.sleep(0.2)
    peak = max(peak, rss.tree_rss_kib(args.root))
    alive = rss.tree_rss_kib(args.root) > 0
    for s in socks:
        s.close()
    print(json.dumps({"wanted": args.count, "opened": len(socks), "failed": failed,
                      "baseline_kib": baseline, "peak_kib": peak,
                      "server_alive": alive, "note": first_error}))


if __name__ == "__main__":
    main()
