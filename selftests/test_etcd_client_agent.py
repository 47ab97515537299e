"""The chaos suite's etcd client (provision/agents/etcd_client.py), stopped while an
operation is under way: it prints that operation before it exits. One sent but never
printed once left a value in etcd that the audit could not explain (ETCD-04, 2026-12-04)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from provision.agents import source
from provision.waiting import until
from selftests.conftest import need_tool


@pytest.fixture
def tls(tmp_path):
    """A CA and a client certificate, as the lab's etcd client has."""
    openssl = need_tool("openssl")
    ca, key = tmp_path / "ca.crt", tmp_path / "client.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=test", "-keyout", str(key), "-out", str(ca)], check=True, capture_output=True)
    return ca, ca, key


@pytest.fixture
def silent_member():
    """An 'etcd member' that accepts connections and never answers: every operation hangs
    until the client's own timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.getsockname()[1]}", held
    stop.set()
    thread.join(5)
    for s in (*held, server):
        s.close()


def test_a_stopped_client_prints_the_operation_under_way(tls, silent_member, tmp_path):
    ca, cert, key = tls
    url, held = silent_member
    op_timeout = 2.0
    out = (tmp_path / "client.jsonl").open("w")
    proc = subprocess.Popen([sys.executable, "-c", source("etcd_client"), url, str(ca), str(cert), str(key),
                             "/k/a", "0.05", "60", str(op_timeout)], stdout=out, stderr=subprocess.PIPE, text=True)
    try:
        # the first write is under way (connected; the member never answers) when the stop comes
        until(lambda: held, op_timeout / 2, "the client's first connection")
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        # bounded well short of the run's 60 s (a loaded 2-core machine takes seconds to start it)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
        took = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            proc.kill()
        out.close()
    lines = [json.loads(line) for line in (tmp_path / "client.jsonl").read_text().splitlines()]
    assert lines and lines[0]["kind"] == "write" and lines[0]["value"] == 1, lines
    assert lines[0]["outcome"] == "timeout", "the operation under way at the stop was not printed"
    # it ended with that operation, not after the run's 60 s
    assert took < 30
