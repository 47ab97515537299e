"""GET PATH from https://ADDRESS:PORT every INTERVAL seconds for DURATION seconds (bounded):
each sample is the HTTP status, or why there was none. Anonymous: no certificate check."""

import json
import socket
import ssl
import sys
import time

address, port, path, interval, duration = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
ctx = ssl.create_default_context()
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
end = time.time() + duration
while time.time() < end:
    start = time.time()
    try:
        with socket.create_connection((address, port), timeout=2) as raw, ctx.wrap_socket(raw) as tls:
            tls.settimeout(2)
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n".encode())
            status = tls.recv(64).split(b" ", 2)[1].decode()
        result = "ok" if status == "200" else f"http-{status}"
    except OSError as exc:
        result = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
    except IndexError:
        result = "no-answer"
    print(json.dumps({"t": start, "result": result, "ms": round((time.time() - start) * 1000, 1)}), flush=True)
    time.sleep(max(0.0, interval - (time.time() - start)))
