"""The outside's TCP service: answers every connection with the source address it sees."""

from __future__ import annotations

import socketserver
import sys


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(f"{self.client_address[0]}\n".encode())


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer((host, port), _Echo) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
