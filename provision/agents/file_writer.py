"""Append numbered records to a file on a mounted volume; print each acknowledged one."""

import json
import os
import sys
import time

path, interval, duration = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
end = time.time() + duration
seq = 0
while time.time() < end:
    seq += 1
    start = time.time()
    try:
        with open(path, "a") as fh:
            fh.write(f"{seq}\n")
            fh.flush()
            os.fsync(fh.fileno())
        result = "ok"
    except OSError as exc:
        result = type(exc).__name__
    print(json.dumps({"t": start, "seq": seq, "result": result, "ms": round((time.time() - start) * 1000, 1)}), flush=True)
    time.sleep(max(0.0, interval - (time.time() - start)))
