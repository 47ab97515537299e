"""TCP connect to ADDRESS:PORT every INTERVAL seconds for DURATION seconds (bounded)."""

import json
import socket
import sys
import time

address, port, interval, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
timeout = min(interval * 0.9, 1.0)
end = time.time() + duration
while time.time() < end:
    start = time.time()
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect((address, port))
        result = "ok"
    except ConnectionRefusedError:
        result = "refused"
    except OSError as exc:
        result = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
    finally:
        s.close()
    print(json.dumps({"t": start, "result": result, "ms": round((time.time() - start) * 1000, 1)}), flush=True)
    time.sleep(max(0.0, interval - (time.time() - start)))
