"""A loopback port that leads into the lab: each connection to it runs the provider's
connect command (a byte stream to an address as seen from a lab host), so clients on this
machine, such as the Kubernetes client, reach the VIP while the machine's own network
namespace never addresses a lab address."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Callable


class Tunnel:
    def __init__(self, connect_argv: Callable[[], list[str]], max_connections: int = 512) -> None:
        self._argv = connect_argv
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.5)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._procs: list[subprocess.Popen] = []
        self._left = max_connections  # bounded: a runaway client cannot open connections forever
        self._thread = threading.Thread(target=self._serve, name=f"tunnel-{self.port}", daemon=True)

    def __enter__(self) -> Tunnel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._stop.is_set() and self._left > 0:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._left -= 1
            proc = subprocess.Popen(self._argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self._procs.append(proc)
            threading.Thread(target=self._pump_in, args=(conn, proc), daemon=True).start()
            threading.Thread(target=self._pump_out, args=(conn, proc), daemon=True).start()

    @staticmethod
    def _pump_in(conn: socket.socket, proc: subprocess.Popen) -> None:
        assert proc.stdin is not None
        try:
            while data := conn.recv(65536):
                proc.stdin.write(data)
                proc.stdin.flush()
        except OSError:
            pass
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    @staticmethod
    def _pump_out(conn: socket.socket, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        try:
            while data := proc.stdout.read1(65536):
                conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()
            proc.wait(timeout=30)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for proc in self._procs:  # started by us, by PID
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
