"""A writer/reader of a few etcd keys over the v3 JSON gateway with TLS client auth.

Each key gets increasing values; after each write the key is read back (linearizable
read). Every operation is printed with its invoke/complete times and outcome: ok, fail
(certainly not applied: refused before sending), timeout (indeterminate).

Stopped (SIGTERM, SIGHUP), it finishes and prints the operation under way, then exits: an
operation sent but never printed would leave a value in etcd that the history cannot explain."""

import base64
import http.client
import itertools
import json
import signal
import ssl
import sys
import time

endpoints = sys.argv[1].split(",")
ca, cert, key = sys.argv[2], sys.argv[3], sys.argv[4]
keys = sys.argv[5].split(",")
interval, duration, op_timeout = float(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8])

ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
rotation = itertools.cycle(endpoints)
endpoint = next(rotation)


def call(path: str, body: dict):
    host, port = endpoint.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=op_timeout)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read() or b"{}")
        if resp.status != 200:
            raise RuntimeError(data.get("message", resp.status))
        return data
    finally:
        conn.close()


def op(k: str, kind: str, value):
    global endpoint
    invoke = time.time()
    try:
        if kind == "write":
            call("/v3/kv/put", {"key": b64(k), "value": b64(str(value))})
        else:
            kvs = call("/v3/kv/range", {"key": b64(k)}).get("kvs", [])
            value = int(base64.b64decode(kvs[0]["value"])) if kvs else None
        outcome = "ok"
    except ConnectionRefusedError:
        outcome = "fail"
    except (TimeoutError, OSError, RuntimeError, ValueError):
        outcome = "timeout"  # sent, maybe applied: indeterminate
    if outcome != "ok":
        endpoint = next(rotation)  # try another member next time
    print(json.dumps({"key": k, "kind": kind, "value": value, "invoke": invoke, "complete": time.time(),
                      "outcome": outcome, "endpoint": endpoint}), flush=True)
    return outcome


stopping = False


def stop(signum, frame) -> None:
    # Only noted here: the operation under way completes (its socket calls are retried after
    # the handler, PEP 475) and is printed before the loop ends.
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGHUP, stop)
end = time.time() + duration
counter = itertools.count(1)
while time.time() < end and not stopping:
    for k in keys:
        if stopping:
            break
        op(k, "write", next(counter))
        op(k, "read", None)
    time.sleep(interval)
