#!/usr/bin/env python3
"""Print N distinct free TCP ports on 127.0.0.1, one per line.

All sockets are held open until every port is chosen, so the ports are distinct; another process could
still take one before the caller binds it, which the caller detects when its server fails to start.
"""
import socket
import sys


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    held = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            held.append(s)
        for s in held:
            print(s.getsockname()[1])
    finally:
        for s in held:
            s.close()


if __name__ == "__main__":
    main()
