"""TCP connect to ADDRESS:PORT every INTERVAL seconds for DURATION seconds (bounded).

Each attempt starts on its own tick and may take up to CONNECT_TIMEOUT_S (TCP's initial
retransmission timeout, so an answer needs no resent SYN). Attempts overlap, at most
CONNECT_TIMEOUT_S / INTERVAL of them: a slow answer on a loaded VM still counts as
one, and a stalled target does not stretch the ticks, so the first answer after an outage
is seen within INTERVAL. Lines come in the order attempts end; "t" is when one began.
"""

import asyncio
import json
import sys
import time

address, port, interval, duration = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
CONNECT_TIMEOUT_S = 1.0


async def attempt() -> None:
    start = time.time()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), CONNECT_TIMEOUT_S)
        writer.close()
        result = "ok"
    except ConnectionRefusedError:
        result = "refused"
    except asyncio.TimeoutError:  # noqa: UP041 -- a lab built elsewhere may run a Python before 3.11, where it is not TimeoutError
        result = "timeout"
    except OSError as exc:
        result = type(exc).__name__
    print(json.dumps({"t": start, "result": result, "ms": round((time.time() - start) * 1000, 1)}), flush=True)


async def main() -> None:
    end = time.time() + duration
    tick = time.monotonic()
    running = set()
    while time.time() < end:
        task = asyncio.create_task(attempt())
        running.add(task)
        task.add_done_callback(running.discard)
        # a loop that fell behind starts again from now rather than catching up in a burst
        tick = max(tick + interval, time.monotonic())
        await asyncio.sleep(tick - time.monotonic())
    if running:
        await asyncio.wait(running)


asyncio.run(main())
