"""A permessage-deflate client that is not sockgate's: Python's `websockets`
(its deflate is CPython's zlib). Echoes messages of many sizes through a
sockgate echo route — whole and fragmented, text and binary — and prints what
was negotiated. Exits non-zero on any difference.

usage: compression_client.py URL [SERVER_MAX_WINDOW_BITS]
"""

import asyncio
import base64
import json
import random
import sys

from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

WORDS = ["alpha", "beta", '{"id":', "42}", "δέλτα", " ", "quote", "ACME"]


def text(n, rng):
    out = []
    size = 0
    while size < n:
        w = rng.choice(WORDS)
        out.append(w)
        size += len(w.encode())
    return "".join(out)


async def main(url, server_bits):
    rng = random.Random(7692)
    factory = ClientPerMessageDeflateFactory(
        server_max_window_bits=server_bits, client_max_window_bits=True
    )
    async with connect(url, compression=None, extensions=[factory], max_size=2**23) as ws:
        echoed = 0
        for n in [0, 1, 100, 127, 1000, 4000, 20000, 60000, 300000]:
            for kind in ["text", "random", "fragmented", "binary"]:
                if kind == "text":
                    msg = text(n, rng)
                elif kind == "random":
                    msg = base64.b64encode(rng.randbytes(n)).decode()
                elif kind == "fragmented":
                    msg = text(n, rng)
                    parts = [msg[i : i + 999] for i in range(0, len(msg), 999)] or [""]
                    await ws.send(parts)
                else:
                    data = rng.randbytes(n // 2) + text(n // 2, rng).encode()
                    await ws.send(data)
                    got = await ws.recv()
                    if base64.b64decode(got) != data:
                        sys.exit(f"binary echo of {n} bytes differs")
                    echoed += 1
                    continue
                if kind != "fragmented":
                    await ws.send(msg)
                got = await ws.recv()
                if got != msg:
                    sys.exit(f"{kind} echo of {n} bytes differs ({len(got)} bytes back)")
                echoed += 1
        print(json.dumps({
            "extensions": ws.response.headers.get("Sec-WebSocket-Extensions"),
            "echoed": echoed,
        }))


bits = int(sys.argv[2]) if len(sys.argv) > 2 else None
asyncio.run(main(sys.argv[1], bits))
