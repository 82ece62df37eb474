"""The transport floor of a rerank, as a load-test stack: Granian (RSGI, uvloop, HTTP/1.1, one
worker, as `facev3 serve` runs it) takes the body in the way facev3's adapter does, chunk by chunk
and joined once, and answers a constant: no parse, no decode, no scoring. What facev3 serves below
this is its handler's cost; no app on this server can serve more.

    .venv/bin/python -m granian --interface rsgi --loop uvloop --http 1 bench.baselines.granian_floor:app
"""

import orjson


class FloorApp:
    async def __rsgi__(self, scope, proto) -> None:
        chunks = [chunk async for chunk in proto]
        body = orjson.dumps({"status": "ok", "bytes": len(b"".join(chunks))})
        proto.response_bytes(200, [("content-type", "application/json")], body)


app = FloorApp()
