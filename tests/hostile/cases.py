"""The raw-socket case table: hostile requests as exact bytes, each with what a hardened server
must do with it. Cases that fail today carry `xfail` per adapter with the reason (issue 12), so
they flip to XPASS, and fail the run (strict), the day they are fixed."""

import base64
import io
import struct
from dataclasses import dataclass, field

import orjson
import ormsgpack
from PIL import Image

from tests.hostile.conftest import API_KEY, BODY_TIMEOUT_S, DEADLINE_S, HEADER_TIMEOUT_S, MAX_BODY_BYTES
from tests.hostile.rawhttp import FIN, chunked, request

# What must happen (besides: never 5xx, never a hang, never a dead worker):
OK = "ok"  # a 2xx answer
JSON4XX = "json4xx"  # a 4xx answer in the error contract {"error": {"code", "message"}}
REFUSED = "refused"  # broken HTTP the app never sees: any 4xx, or the connection closed without an answer
SAFE = "safe"  # anything below 500; a 4xx from the app in the error contract
CUT = "cut"  # a stall: a 408 in the error contract, or the connection closed, within the timeouts


@dataclass(frozen=True)
class Case:
    name: str
    parts: tuple  # bytes, or floats: pauses (seconds)
    expect: str
    status: int | tuple[int, ...] | None = None  # for OK / JSON4XX: the status(es) allowed
    code: str | tuple[str, ...] | None = None  # for JSON4XX: the error code(s) allowed
    answers: int = 1  # pipelined: the whole answers to wait for
    head_only: bool = False
    deadline_s: float = DEADLINE_S
    allow_header: bool = False  # a 405 must carry Allow
    xfail: dict = field(default_factory=dict)  # adapter -> reason

    def statuses(self) -> tuple[int, ...] | None:
        return (self.status,) if isinstance(self.status, int) else self.status

    def codes(self) -> tuple[str, ...] | None:
        return (self.code,) if isinstance(self.code, str) else self.code


CASES: list[Case] = []
STALL = HEADER_TIMEOUT_S + BODY_TIMEOUT_S + 3  # the deadline of slow and silent clients


def add(name: str, parts, expect: str, **kw) -> None:
    assert name not in {c.name for c in CASES}, name
    parts = tuple(parts) if isinstance(parts, list | tuple) else (parts,)
    CASES.append(Case(name, parts, expect, **kw))


KEY = {"X-API-Key": API_KEY}
JSON = {"Content-Type": "application/json", **KEY}


def req(method: str, path: str, body: bytes = b"", headers=None, key: bool = True, **kw) -> bytes:
    """A request with the API key (unless key=False) and Connection: close."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if key and not any(name.lower() in ("x-api-key", "authorization") for name, _ in items):
        items.append(("X-API-Key", API_KEY))
    return request(method, path, body, items, **kw)


def png(width: int = 64, height: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 90, 60)).save(out, "PNG")
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


QUERY = [1.0, 0.0, 0.0, 0.0]
GOOD_RERANK = {"query": QUERY, "candidates": [{"id": "a", "embedding": [1.0, 1.0, 0.0, 0.0]}]}
GOOD_BODY = orjson.dumps(GOOD_RERANK)
GOOD_EMBED = orjson.dumps({"images": [b64(png())]})
RERANK = "/v1/rerank"
EMBED = "/v1/embeddings"
MP = "multipart/form-data; boundary="

ROBYN_PANIC = "issue 12: Robyn 0.88 panics on a malformed chunked body (request.rs:165 expect) and the process aborts"
ROBYN_NO_BODY_TIMEOUT = "issue 12: Robyn has no body timeout: a body that never arrives is never cut"
ROBYN_NO_HEADER_TIMEOUT = "issue 12: Robyn runs actix with client_request_timeout(0): a partial head is never cut"
ROBYN_BUFFERS_FIRST = "issue 12: Robyn buffers the whole declared body before the adapter can refuse on headers"
ROBYN_CHUNKED_LIMIT = "issue 12: Robyn ignores the body limit for chunked bodies (buffered, then parsed)"
ROBYN_MULTIPART_500 = "issue 12: Robyn parses multipart in Rust before the adapter; a parse error is a plain-text 500"
ROBYN_TEXT_405 = "issue 12: Robyn answers a method it does not know with a plain-text 405/404 before the adapter"
ROBYN_TUNNEL = "issue 12: actix reads a CONNECT/Upgrade request's payload to EOF; Robyn waits, with no timeout"
ROBYN_PANIC_TRAILER = "issue 12: Robyn 0.88 panics (request.rs:165) on a valid chunked body with trailers"
ROBYN_MULTIPART_SLOW = "issue 12: Robyn parses an oversized multipart upload in Rust first: no answer in time"
GRANIAN_2F = "issue 12: Granian's RSGI scope.path is percent-decoded: /v1%2Frerank is routed to /v1/rerank"
GRANIAN_TRUNCATED = (
    "issue 12: Granian ends a chunked RSGI body stream silently when a chunk is malformed: with no "
    "Content-Length to compare, a complete JSON body before the broken chunk is served"
)
ROBYN_IDLE = "issue 12: Robyn runs actix with KeepAlive::Os and no client timeout: idle connections are never cut"


# ---- request line and method ----------------------------------------------------------------------

add("garbage bytes", b"\x00\x01\x02garbage\r\n\r\n", REFUSED)
add("only CRLFs", b"\r\n\r\n\r\n\r\n", CUT, xfail={"robyn": ROBYN_NO_HEADER_TIMEOUT})
add("HTTP/0.9 request line", b"GET /healthz\r\n\r\n", REFUSED)
add("HTTP/2.0 in an HTTP/1 line", req("GET", "/healthz", version="HTTP/2.0"), REFUSED)
add("HTTP/9.9", req("GET", "/healthz", version="HTTP/9.9"), REFUSED)
add("HTTP/1.0 good", req("GET", "/healthz", version="HTTP/1.0"), OK)
add("lower-case version", req("GET", "/healthz", version="http/1.1"), REFUSED)
add("extra token in request line", b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n", REFUSED)
add("tabs in request line", b"GET\t/healthz\tHTTP/1.1\r\nHost: x\r\n\r\n", REFUSED)
add("double spaces in request line", b"GET  /healthz  HTTP/1.1\r\nHost: x\r\n\r\n", REFUSED)
add("LF-only line ends", b"GET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n", SAFE)
add("NUL in request line", b"GET /heal\x00thz HTTP/1.1\r\nHost: x\r\n\r\n", REFUSED)
add("empty method", b" /healthz HTTP/1.1\r\nHost: x\r\n\r\n", REFUSED)
add("empty target", b"GET  HTTP/1.1\r\nHost: x\r\n\r\n", REFUSED)
add("1,000-char method", req("A" * 1000, "/healthz"), SAFE)
add("lower-case method", req("get", "/healthz"), SAFE)
for method in ("FOO", "BREW", "PROPFIND"):
    add(
        f"unknown method {method}",
        req(method, "/healthz"),
        JSON4XX,
        status=405,
        code="method_not_allowed",
        allow_header=True,
        xfail={"robyn": ROBYN_TEXT_405},
    )
add("TRACE", req("TRACE", "/healthz"), JSON4XX, status=405, allow_header=True, xfail={"robyn": ROBYN_TEXT_405})
add(
    "CONNECT authority form",
    b"CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n",
    SAFE,
    xfail={"robyn": ROBYN_TUNNEL},
)
add("asterisk form GET", req("GET", "*"), SAFE)
add("asterisk form OPTIONS", req("OPTIONS", "*"), SAFE)
add("absolute-form target", req("GET", "http://127.0.0.1/healthz"), SAFE)
for method, path in (("DELETE", RERANK), ("PUT", EMBED), ("PATCH", "/healthz"), ("POST", "/v1/info")):
    add(
        f"{method} {path} not allowed",
        req(method, path, b"{}", JSON),
        JSON4XX,
        status=405,
        code="method_not_allowed",
        allow_header=True,
    )
add("GET on rerank", req("GET", RERANK), JSON4XX, status=405, allow_header=True)
add("HEAD healthz", req("HEAD", "/healthz"), OK, head_only=True)
add("HEAD on rerank", req("HEAD", RERANK), JSON4XX, status=405, head_only=True, allow_header=True)
add("OPTIONS rerank", req("OPTIONS", RERANK, key=False), OK, status=204)
add("OPTIONS unknown path", req("OPTIONS", "/nope"), JSON4XX, status=404)
add("query string garbage", req("GET", "/healthz?%zz&&&==&a=%00"), OK)
add("fragment in target", req("GET", "/healthz#x"), SAFE)

# ---- paths ---------------------------------------------------------------------------------------

add("%2F in a route", req("POST", "/v1%2Frerank", GOOD_BODY, JSON), JSON4XX, status=404, xfail={"granian": GRANIAN_2F})
add(
    "%2f lower in a route",
    req("POST", "/v1%2frerank", GOOD_BODY, JSON),
    JSON4XX,
    status=404,
    xfail={"granian": GRANIAN_2F},
)
add("%2F GET info", req("GET", "/v1%2Finfo"), JSON4XX, status=404, xfail={"granian": GRANIAN_2F})
add("encoded letters", req("GET", "/heal%74hz"), JSON4XX, status=404, xfail={"granian": GRANIAN_2F})
# One trailing slash names the same route (Robyn drops it before the adapter; Granian follows).
add("trailing slash GET", req("GET", "/healthz/"), OK)
add("trailing slash POST", req("POST", RERANK + "/", GOOD_BODY, JSON), OK)
add("trailing slash info", req("GET", "/v1/info/"), OK)
add("double slash", req("GET", "//healthz"), JSON4XX, status=404)
add("many slashes", req("GET", "/" * 2000 + "healthz"), JSON4XX, status=404)
add("dot segment", req("GET", "/./healthz"), JSON4XX, status=404)
add("dot-dot segment", req("GET", "/v1/../healthz"), JSON4XX, status=404)
add("encoded dot-dot", req("GET", "/%2e%2e/healthz"), JSON4XX, status=404)
add("static traversal", req("GET", "/static/../../config.py", key=False), JSON4XX, status=404)
add("static encoded traversal", req("GET", "/static/..%2f..%2fconfig.py", key=False), JSON4XX, status=404)
add("static overlong utf-8 dots", req("GET", "/static/%c0%ae%c0%ae/config.py", key=False), JSON4XX, status=404)
add("static NUL extension", req("GET", "/static/app.js%00.png", key=False), JSON4XX, status=404)
add("%00 in a route", req("GET", "/healthz%00"), JSON4XX, status=404)
add("percent alone", req("GET", "/healthz%"), SAFE)
add("bad percent escape", req("GET", "/%zzhealthz"), SAFE)
add("encoded invalid utf-8", req("GET", "/%ff%fe"), SAFE)
add("raw non-UTF-8 byte", b"GET /h\xffz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", REFUSED)
add("raw UTF-8 in target", "GET /café HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(), REFUSED)
add("backslashes", req("GET", "/static\\..\\config.py"), REFUSED)
add("upper-case route", req("GET", "/HEALTHZ"), JSON4XX, status=404)
add("route with ;params", req("GET", "/healthz;a=b"), JSON4XX, status=404)
add("8 KB path", req("GET", "/" + "a" * 8000), SAFE)
add("100 KB path", req("GET", "/" + "a" * 100_000), REFUSED)
add("1 MB path", req("GET", "/" + "a" * 1_000_000), REFUSED)
add("unknown path POST with body", req("POST", "/nope", GOOD_BODY, JSON), JSON4XX, status=404)

# ---- headers -------------------------------------------------------------------------------------

add("header without colon", b"GET /healthz HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", REFUSED)
add("space in header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n", REFUSED)
add("space before colon", b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", REFUSED)
add("NUL in header value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", REFUSED)
add("obs-fold continuation", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n", SAFE)
add("empty header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", REFUSED)
add("100 KB header value", req("GET", "/healthz", headers={"X-Big": "a" * 100_000}), SAFE)
add("1 MB header value", req("GET", "/healthz", headers={"X-Big": "a" * 1_000_000}), REFUSED)
add("2,000 headers", req("GET", "/healthz", headers=[(f"X-{i}", "v") for i in range(2000)]), REFUSED)
add("90 headers", req("GET", "/healthz", headers=[(f"X-{i}", "v") for i in range(90)]), OK)
add("no Host in HTTP/1.1", b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", SAFE)
add("two Host headers", req("GET", "/healthz", headers=[("Host", "a"), ("Host", "b")]), SAFE)
add("garbage Host", req("GET", "/healthz", headers={"Host": "\x7f\x7f:::"}), SAFE)
add("header value with 0xFF", req("GET", "/v1/info", headers={"X-Odd": "\xff\xfe"}), SAFE)
add("header name in odd case", req("POST", RERANK, GOOD_BODY, {"cOnTeNt-TyPe": "application/json"}), OK)
add(
    "two content types",
    req("POST", RERANK, GOOD_BODY, [("Content-Type", "text/plain"), ("Content-Type", "application/json")]),
    SAFE,
)
add("Expect 100-continue, good", req("POST", RERANK, GOOD_BODY, {**JSON, "Expect": "100-continue"}), OK)
add("Expect garbage", req("POST", RERANK, GOOD_BODY, {**JSON, "Expect": "tea"}), SAFE)
add(
    "Expect 100-continue, oversized",
    req("POST", RERANK, b"", {**JSON, "Expect": "100-continue", "Content-Length": str(MAX_BODY_BYTES + 1)}),
    JSON4XX,
    status=413,
    code="body_too_large",
    xfail={"robyn": ROBYN_BUFFERS_FIRST},
)
add(
    "Upgrade websocket",
    req("GET", "/healthz", headers={"Connection": "Upgrade", "Upgrade": "websocket"}),
    SAFE,
    xfail={"robyn": ROBYN_TUNNEL},
)
add(
    "Upgrade h2c",
    req(
        "GET",
        "/healthz",
        headers={"Connection": "Upgrade, HTTP2-Settings", "Upgrade": "h2c", "HTTP2-Settings": "AAMAAABkAAQAAP__"},
    ),
    SAFE,
)
add(
    "HTTP/2 preface, then silence",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    CUT,
    deadline_s=STALL,
)
add("Content-Encoding gzip on plain JSON", req("POST", RERANK, GOOD_BODY, {**JSON, "Content-Encoding": "gzip"}), SAFE)
add("Accept msgpack", req("POST", RERANK, GOOD_BODY, {**JSON, "Accept": "application/msgpack"}), OK)
add("Accept garbage", req("POST", RERANK, GOOD_BODY, {**JSON, "Accept": ";;;,,,*/*;q=x"}), OK)
add("DEL in a header value", req("POST", RERANK, GOOD_BODY, {**JSON, "Accept": "\x7f"}), SAFE)
add("Range header", req("GET", "/static/app.js", headers={"Range": "bytes=-1,0-99999999999999"}, key=False), SAFE)
add("If-None-Match garbage", req("GET", "/static/app.js", headers={"If-None-Match": '"' * 5000}, key=False), OK)

# ---- Content-Length lies -----------------------------------------------------------------------------

add(
    "CL shorter than body",
    req("POST", RERANK, b'{}{"query":1}', {**JSON, "Content-Length": "2"}),
    JSON4XX,
    code="missing_field",
)
add(
    "CL longer than body",
    req("POST", RERANK, b"{}", {**JSON, "Content-Length": "100"}),
    CUT,
    xfail={"robyn": ROBYN_NO_BODY_TIMEOUT},
)
add("CL negative", req("POST", RERANK, b"{}", {**JSON, "Content-Length": "-1"}), REFUSED)
add("CL non-numeric", req("POST", RERANK, b"{}", {**JSON, "Content-Length": "abc"}), REFUSED)
add("CL plus sign", req("POST", RERANK, b"{}", {**JSON, "Content-Length": "+2"}), REFUSED)
add("CL hex", req("POST", RERANK, b"{}", {**JSON, "Content-Length": "0x2"}), REFUSED)
add("CL with inner space", req("POST", RERANK, b"{}", {**JSON, "Content-Length": "1 1"}), REFUSED)
add(
    "CL duplicated, different",
    req("POST", RERANK, b"{}", [*JSON.items(), ("Content-Length", "2"), ("Content-Length", "3")]),
    REFUSED,
)
add(
    "CL duplicated, same",
    req(
        "POST",
        RERANK,
        GOOD_BODY,
        [*JSON.items(), ("Content-Length", str(len(GOOD_BODY)))] * 1 + [("Content-Length", str(len(GOOD_BODY)))],
    ),
    SAFE,
)
add("CL list", req("POST", RERANK, b"{}", {**JSON, "Content-Length": "2, 2"}), SAFE)
add("CL beyond 64 bits", req("POST", RERANK, b"{}", {**JSON, "Content-Length": "9" * 30}), REFUSED)
add(
    "CL over the limit, nothing sent",
    req("POST", RERANK, b"", {**JSON, "Content-Length": str(MAX_BODY_BYTES + 1)}),
    JSON4XX,
    status=413,
    code="body_too_large",
    xfail={"robyn": ROBYN_BUFFERS_FIRST},
)
add(
    "CL 1 TB, nothing sent",
    req("POST", EMBED, b"", {**JSON, "Content-Length": str(10**12)}),
    JSON4XX,
    status=413,
    code="body_too_large",
    xfail={"robyn": ROBYN_BUFFERS_FIRST},
)
add("CL 0 on rerank", req("POST", RERANK, b"", {**JSON, "Content-Length": "0"}), JSON4XX, status=400, code="empty_body")
add("POST without CL or TE", req("POST", RERANK, b"", JSON, length=False), JSON4XX, status=400, code="empty_body")
add("body on GET", req("GET", "/healthz", b"hello", {}), OK)
add(
    "body on GET with a lying CL",
    req("GET", "/healthz", b"", {"Content-Length": "50"}),
    CUT,
    xfail={"robyn": ROBYN_NO_BODY_TIMEOUT},
)
add(
    "CL and TE both (smuggling)",
    req(
        "POST",
        RERANK,
        b"0\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
        {**JSON, "Content-Length": "5", "Transfer-Encoding": "chunked"},
    ),
    SAFE,
)

# ---- chunked bodies ----------------------------------------------------------------------------------

TE = {**JSON, "Transfer-Encoding": "chunked"}
add("chunk size zz", req("POST", RERANK, b"zz\r\nabc\r\n0\r\n\r\n", TE), REFUSED, xfail={"robyn": ROBYN_PANIC})
add(
    "chunk size zz on healthz",
    req("POST", "/healthz", b"zz\r\nabc\r\n0\r\n\r\n", TE),
    SAFE,
    xfail={"robyn": ROBYN_PANIC},
)
add(
    "chunk size zz on unknown path",
    req("GET", "/nope", b"zz\r\nabc\r\n0\r\n\r\n", TE),
    SAFE,
    xfail={"robyn": ROBYN_PANIC},
)
add(
    "chunk size zz without a key",
    req(
        "POST",
        EMBED,
        b"zz\r\nabc\r\n0\r\n\r\n",
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        key=False,
    ),
    SAFE,
    xfail={"robyn": ROBYN_PANIC},
)
add(
    "chunk size overflow",
    req("POST", RERANK, b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", TE),
    REFUSED,
    xfail={"robyn": ROBYN_PANIC},
)
add("chunk size negative", req("POST", RERANK, b"-2\r\n{}\r\n0\r\n\r\n", TE), REFUSED, xfail={"robyn": ROBYN_PANIC})
add(
    "chunk data longer than size",
    req("POST", RERANK, b"1\r\n{}\r\n0\r\n\r\n", TE),
    REFUSED,
    xfail={"robyn": ROBYN_PANIC},
)
add(
    "chunk without CRLF after data", req("POST", RERANK, b"2\r\n{}0\r\n\r\n", TE), REFUSED, xfail={"robyn": ROBYN_PANIC}
)
add(
    "chunk size with leading space",
    req("POST", RERANK, b" 2\r\n{}\r\n0\r\n\r\n", TE),
    REFUSED,
    xfail={"robyn": ROBYN_PANIC},
)
add(
    "chunk size line 10 KB",
    req("POST", RERANK, b"0" * 10_000 + b"2\r\n{}\r\n0\r\n\r\n", TE),
    SAFE,
)
add("chunk extension", req("POST", RERANK, chunked(GOOD_BODY).replace(b"\r\n", b";ext=1\r\n", 1), TE), OK)
add("chunked good rerank", req("POST", RERANK, chunked(GOOD_BODY), TE), OK)
add("chunked 1-byte chunks", req("POST", RERANK, chunked(*[bytes([b]) for b in GOOD_BODY]), TE), OK)
add(
    "chunked with trailers",
    req("POST", RERANK, chunked(GOOD_BODY)[:-2] + b"X-Trailer: 1\r\n\r\n", TE),
    OK,
    xfail={"robyn": ROBYN_PANIC_TRAILER},
)
add(
    "chunked with a bad trailer",
    req("POST", RERANK, chunked(GOOD_BODY)[:-2] + b"bad trailer\r\n\r\n", TE),
    SAFE,
    xfail={"robyn": ROBYN_PANIC},
)
add(
    "chunked, no last chunk, stall",
    req("POST", RERANK, b"2\r\n{}\r\n", TE),
    CUT,
    xfail={"robyn": ROBYN_NO_BODY_TIMEOUT},
)
add("chunked, size line only, stall", req("POST", RERANK, b"100\r\n{", TE), CUT, xfail={"robyn": ROBYN_NO_BODY_TIMEOUT})
add(
    "chunked over the body limit",
    req("POST", RERANK, chunked(*[b" " * 1_000_000] * 4), TE),
    JSON4XX,
    status=413,
    code="body_too_large",
    xfail={"robyn": ROBYN_CHUNKED_LIMIT},
)
add(
    "chunked over the limit, embeddings",
    req("POST", EMBED, chunked(b'{"images":["' + b"A" * 3_200_000 + b'"]}'), TE),
    JSON4XX,
    status=413,
    code="body_too_large",
    xfail={"robyn": ROBYN_CHUNKED_LIMIT},
)
add(
    "TE chunked twice", req("POST", RERANK, chunked(GOOD_BODY), {**JSON, "Transfer-Encoding": "chunked, chunked"}), SAFE
)
add("TE gzip, chunked", req("POST", RERANK, chunked(GOOD_BODY), {**JSON, "Transfer-Encoding": "gzip, chunked"}), SAFE)
add("TE xchunked", req("POST", RERANK, GOOD_BODY, {**JSON, "Transfer-Encoding": "xchunked"}), REFUSED)
add("TE identity", req("POST", RERANK, GOOD_BODY, {**JSON, "Transfer-Encoding": "identity"}), REFUSED)
add("TE chunked in HTTP/1.0", req("POST", RERANK, chunked(GOOD_BODY), TE, version="HTTP/1.0"), SAFE)

add(
    "complete JSON, then a broken chunk",
    req("POST", RERANK, chunked(GOOD_BODY)[:-5] + b"zz\r\n\r\n", TE),
    REFUSED,
    xfail={"granian": GRANIAN_TRUNCATED, "robyn": ROBYN_PANIC},
)
add(
    "CL 50 bytes longer, then FIN",
    [req("POST", RERANK, GOOD_BODY, {**JSON, "Content-Length": str(len(GOOD_BODY) + 50)}), FIN],
    REFUSED,
)
add(
    "half a body, then FIN",
    [req("POST", RERANK, GOOD_BODY[:20], {**JSON, "Content-Length": str(len(GOOD_BODY))}), FIN],
    REFUSED,
)

# ---- stalls: heads and bodies that never arrive --------------------------------------------------------

add(
    "body never arrives",
    req("POST", RERANK, b"", {**JSON, "Content-Length": "100"}),
    CUT,
    xfail={"robyn": ROBYN_NO_BODY_TIMEOUT},
)
add(
    "half a body, then stall",
    req("POST", RERANK, GOOD_BODY[:20], {**JSON, "Content-Length": str(len(GOOD_BODY))}),
    CUT,
    xfail={"robyn": ROBYN_NO_BODY_TIMEOUT},
)
add(
    "slow body, a byte each 0.4 s",
    [req("POST", RERANK, b"", {**JSON, "Content-Length": "40"})] + [b" ", 0.4] * 20,
    CUT,
    deadline_s=STALL,
    xfail={"robyn": ROBYN_NO_BODY_TIMEOUT},
)
add(
    "Expect 100-continue, body never sent",
    req("POST", RERANK, b"", {**JSON, "Expect": "100-continue", "Content-Length": "50"}),
    CUT,
    xfail={"robyn": ROBYN_NO_BODY_TIMEOUT},
)
add(
    "keyless body never arrives",
    req("POST", EMBED, b"", {"Content-Type": "application/json", "Content-Length": "1000"}, key=False),
    JSON4XX,
    status=401,
    xfail={"robyn": ROBYN_BUFFERS_FIRST},
)
add("partial head, stall", b"GET /healthz HTTP/1.1\r\nHost: x\r\n", CUT, xfail={"robyn": ROBYN_NO_HEADER_TIMEOUT})
add("request line without CRLF, stall", b"GET /healthz HTTP/1.1", CUT, xfail={"robyn": ROBYN_NO_HEADER_TIMEOUT})
add("one byte, stall", b"G", CUT, xfail={"robyn": ROBYN_NO_HEADER_TIMEOUT})
add(
    "slowloris head, a header each 0.4 s",
    [b"GET /healthz HTTP/1.1\r\n"] + [b"X-A: b\r\n", 0.4] * 25,
    CUT,
    deadline_s=STALL,
    xfail={"robyn": ROBYN_NO_HEADER_TIMEOUT},
)
add(
    "slowloris request line, a byte each 0.3 s",
    [bytes([c]) if i % 2 == 0 else 0.3 for c in b"GET /healthz HTTP/1.1\r\n" for i in (0, 1)],
    CUT,
    deadline_s=STALL,
    xfail={"robyn": ROBYN_NO_HEADER_TIMEOUT},
)
add("silent connection", [b"", 0.0], CUT, deadline_s=STALL, xfail={"robyn": ROBYN_IDLE})
add("keep-alive, then idle", req("GET", "/healthz", close=False), OK)

# ---- pipelining ----------------------------------------------------------------------------------------

add("two pipelined GETs", req("GET", "/healthz", close=False) + req("GET", "/v1/info"), OK, answers=2)
add("50 pipelined GETs", req("GET", "/healthz", close=False) * 49 + req("GET", "/healthz"), OK, answers=50)
add("good then garbage", req("GET", "/healthz", close=False) + b"\x00\xffgarbage\r\n\r\n", OK)
add("good then partial, stall", req("GET", "/healthz", close=False) + b"GET /heal", OK)
add(
    "request smuggled in a body",
    req("POST", RERANK, b'{"x":1}GET /nope HTTP/1.1\r\nHost: x\r\n\r\n', {**JSON, "Content-Length": "7"}, close=False),
    JSON4XX,
    code="unknown_field",
)
add(
    "pipelined after a refused key",
    req("POST", RERANK, GOOD_BODY, {"Content-Type": "application/json"}, key=False, close=False)
    + req("GET", "/healthz"),
    JSON4XX,
    status=401,
)

# ---- content types ---------------------------------------------------------------------------------------

for name, content_type in (
    ("text/plain", "text/plain"),
    ("form-urlencoded", "application/x-www-form-urlencoded"),
    ("jsonx", "application/jsonx"),
    ("empty", ""),
    ("10 KB long", "application/" + "x" * 10_000),
    ("json in parameters only", "text/plain; type=application/json"),
    ("multipart on rerank", MP + "abc"),
):
    add(
        f"content type {name}",
        req("POST", RERANK, GOOD_BODY, {"Content-Type": content_type}),
        JSON4XX,
        status=415,
        xfail={"robyn": ROBYN_MULTIPART_500} if content_type.startswith("multipart/") else {},
    )
add("no content type", req("POST", RERANK, GOOD_BODY), JSON4XX, status=415, code="unsupported_media_type")
add("JSON charset latin-1", req("POST", RERANK, GOOD_BODY, {"Content-Type": "application/json; charset=latin-1"}), OK)
add("JSON upper case type", req("POST", RERANK, GOOD_BODY, {"Content-Type": "APPLICATION/JSON"}), OK)
add("msgpack good", req("POST", RERANK, ormsgpack.packb(GOOD_RERANK), {"Content-Type": "application/msgpack"}), OK)
add(
    "msgpack type, JSON body",
    req("POST", RERANK, GOOD_BODY, {"Content-Type": "application/msgpack"}),
    JSON4XX,
    status=400,
)
add(
    "msgpack garbage",
    req("POST", RERANK, b"\xc1\xc1\xc1", {"Content-Type": "application/x-msgpack"}),
    JSON4XX,
    status=400,
)
add(
    "msgpack array",
    req("POST", RERANK, ormsgpack.packb([1, 2]), {"Content-Type": "application/msgpack"}),
    JSON4XX,
    status=400,
)
add(
    "msgpack nested 10,000",
    req("POST", RERANK, b"\x91" * 10_000 + b"\xc0", {"Content-Type": "application/msgpack"}),
    JSON4XX,
    status=400,
)
add(
    "msgpack truncated map",
    req("POST", RERANK, b"\xdf\xff\xff\xff\xff", {"Content-Type": "application/msgpack"}),
    JSON4XX,
    status=400,
)
add(
    "msgpack ext type",
    req("POST", RERANK, b"\x81\xa5query\xd4\x01\x00", {"Content-Type": "application/msgpack"}),
    JSON4XX,
)
add(
    "msgpack id as binary",
    req(
        "POST",
        RERANK,
        ormsgpack.packb({"query": QUERY, "candidates": [{"id": b"\xff", "embedding": QUERY}]}),
        {"Content-Type": "application/msgpack"},
    ),
    JSON4XX,
    status=422,
)

# ---- the usual bodies the native readers take: base64 JSON and binary MessagePack -------------------------

VECTOR = struct.pack("<4f", *QUERY)
B64_RERANK = {"query_b64": b64(VECTOR), "candidates": [{"id": "a", "embedding_b64": b64(VECTOR)}]}
BIN_RERANK = {"query": VECTOR, "candidates": [{"id": "a", "embedding": VECTOR}]}
MSGPACK = {"Content-Type": "application/msgpack", **KEY}


def usual_case(name: str, change: dict, expect: str = JSON4XX, **kw) -> None:
    """The same change to both usual bodies (written with MessagePack's names, base64 for JSON)."""
    as_b64 = {"query_b64" if k == "query" else k: b64(v) if k == "query" else v for k, v in change.items()}
    if "candidates" in change:
        as_b64["candidates"] = [{"id": c["id"], "embedding_b64": b64(c["embedding"])} for c in change["candidates"]]
    add(f"base64: {name}", req("POST", RERANK, orjson.dumps({**B64_RERANK, **as_b64}), JSON), expect, **kw)
    add(
        f"binary msgpack: {name}", req("POST", RERANK, ormsgpack.packb({**BIN_RERANK, **change}), MSGPACK), expect, **kw
    )


ONE_ROW = {"id": "a", "embedding": VECTOR}
usual_case("good", {}, OK)
usual_case("options", {"top_k": 1, "threshold": 0.5, "method": "qe", "debug": True}, OK)
usual_case("duplicate ids", {"candidates": [ONE_ROW, ONE_ROW]}, status=422, code="duplicate_id")
usual_case("an option of the wrong type", {"top_k": "1"}, status=422, code="invalid_value")
usual_case("an unknown option", {"colour": 1}, status=422, code="unknown_field")
usual_case("51 candidates", {"candidates": [{"id": i, "embedding": VECTOR} for i in range(51)]}, status=413)
usual_case("a zero query", {"query": bytes(16)}, status=422, code="zero_vector")
usual_case(
    "a NaN row", {"candidates": [{"id": 1, "embedding": b"\x00\x00\xc0\x7f" * 4}]}, status=422, code="non_finite"
)
usual_case("rows of two widths", {"candidates": [ONE_ROW, {"id": 2, "embedding": VECTOR[:8]}]}, status=422)
add(
    "base64: an option nested 10,000 deep",
    req("POST", RERANK, orjson.dumps(B64_RERANK)[:-1] + b',"model":' + b"[" * 10_000 + b"]" * 10_000 + b"}", JSON),
    JSON4XX,
    status=400,
)
add(
    "binary msgpack: an option nested 10,000 deep",
    req(
        "POST",
        RERANK,
        ormsgpack.packb(BIN_RERANK)[:1].replace(b"\x82", b"\x83")
        + b"\xa5model"
        + b"\x91" * 10_000
        + b"\xc0"
        + ormsgpack.packb(BIN_RERANK)[1:],
        MSGPACK,
    ),
    JSON4XX,
    status=400,
)
add(
    "binary msgpack: a count past the body",
    req(
        "POST",
        RERANK,
        ormsgpack.packb(BIN_RERANK).replace(b"candidates\x91", b"candidates\xdd\xff\xff\xff\xff"),
        MSGPACK,
    ),
    JSON4XX,
    status=400,
)

# ---- JSON edge cases -------------------------------------------------------------------------------------


def rerank_with(**fields) -> bytes:
    return orjson.dumps({**GOOD_RERANK, **fields})


def jcase(name: str, body: bytes, expect: str = JSON4XX, path: str = RERANK, **kw) -> None:
    add(f"json: {name}", req("POST", path, body, JSON), expect, **kw)


jcase("truncated", b'{"query": [1', status=400, code="malformed_json")
jcase("array", b"[]", status=400, code="malformed_json")
jcase("null", b"null", status=400, code="malformed_json")
jcase("string", b'"x"', status=400, code="malformed_json")
jcase("empty object", b"{}", status=422, code="missing_field")
jcase("NaN token", b'{"query": [NaN], "candidates": []}', status=400, code="malformed_json")
jcase("Infinity token", b'{"query": [Infinity, 1], "candidates": []}', status=400, code="malformed_json")
jcase("1e999", b'{"query": [1e999, 1], "candidates": []}', status=400, code="malformed_json")
jcase("deep nesting 100,000", b"[" * 100_000 + b"]" * 100_000, status=400, code="malformed_json")
jcase("deep nesting in a value", b'{"query": ' + b"[" * 5000 + b"]" * 5000 + b"}", status=400)
jcase(
    "id nested 300 levels",
    b'{"query":[1,0],"candidates":[{"id":' + b"[" * 300 + b"]" * 300 + b',"embedding":[1,0]}]}',
    status=422,
    code="invalid_value",
)
jcase("lone surrogate", b'{"query":[1,0],"candidates":[{"id":"\\ud800","embedding":[1,0]}]}', status=400)
jcase("invalid UTF-8", b'{"query":[1,0],"candidates":[{"id":"\xff","embedding":[1,0]}]}', status=400)
jcase("UTF-8 BOM", b"\xef\xbb\xbf" + GOOD_BODY, SAFE)
jcase("UTF-16", GOOD_BODY.decode().encode("utf-16"), status=400)
jcase("trailing garbage", GOOD_BODY + b" x", status=400, code="malformed_json")
jcase("duplicate keys", b'{"query":[1,0],"query":[0,1],"candidates":[{"id":1,"embedding":[1,0]}]}', SAFE)
jcase("threshold null", rerank_with(threshold=None), OK)
jcase("threshold string", rerank_with(threshold="0.5"), status=422, code="invalid_value")
jcase("threshold -1", rerank_with(threshold=-1), status=422, code="invalid_value")
jcase("threshold 2", rerank_with(threshold=2), status=422, code="invalid_value")
jcase("threshold 1e308", rerank_with(threshold=1e308), status=422, code="invalid_value")
jcase("threshold bool", rerank_with(threshold=True), status=422, code="invalid_value")
jcase("top_k 0", rerank_with(top_k=0), status=422, code="invalid_value")
jcase("top_k float", rerank_with(top_k=1.5), status=422, code="invalid_value")
jcase(
    "top_k 2**64", b'{"query":[1,0],"candidates":[{"id":1,"embedding":[1,0]}],"top_k":18446744073709551616}', status=422
)
jcase("top_k above max candidates", rerank_with(top_k=51), status=422, code="invalid_value")
jcase("method bogus", rerank_with(method="bogus"), status=422, code="invalid_value")
jcase("method list", rerank_with(method=["cosine"]), status=422, code="invalid_value")
jcase("debug string", rerank_with(debug="yes"), status=422, code="invalid_value")
jcase("model mismatch", rerank_with(model="other@1"), status=422)
jcase("unknown field", rerank_with(extra=1), status=422, code="unknown_field")
jcase("query empty", rerank_with(query=[]), status=422, code="empty")
jcase("query strings", rerank_with(query=["1", "0", "0", "0"]), status=422, code="invalid_value")
jcase("query null item", rerank_with(query=[1.0, None, 0.0, 0.0]), status=422, code="invalid_value")
jcase("query bools", rerank_with(query=[True, False, False, False]), status=422, code="invalid_value")
jcase("query an object", rerank_with(query={"a": 1}), status=422, code="invalid_value")
jcase("query zero", rerank_with(query=[0.0] * 4), status=422, code="zero_vector")
jcase("query over float32", rerank_with(query=[1e39, 0, 0, 0]), status=422, code="non_finite")
jcase(
    "query huge ints",
    b'{"query":[99999999999999999999,1,0,0],"candidates":[{"id":1,"embedding":[1,0,0,0]}]}',
    status=422,
)
jcase(
    "query_b64 invalid",
    orjson.dumps({"query_b64": "%%%", "candidates": GOOD_RERANK["candidates"]}),
    status=422,
    code="bad_base64",
)
jcase(
    "query_b64 3 bytes",
    orjson.dumps({"query_b64": "AAAA", "candidates": GOOD_RERANK["candidates"]}),
    status=422,
    code="bad_base64",
)
jcase(
    "query_b64 a number",
    orjson.dumps({"query_b64": 5, "candidates": GOOD_RERANK["candidates"]}),
    status=422,
    code="bad_base64",
)
jcase("query and query_b64", rerank_with(query_b64=b64(b"\0" * 16)), status=422, code="invalid_value")
jcase("no query", orjson.dumps({"candidates": GOOD_RERANK["candidates"]}), status=422, code="missing_field")
jcase("no candidates", orjson.dumps({"query": QUERY}), status=422, code="missing_field")
jcase("candidates empty", rerank_with(candidates=[]), status=422, code="empty")
jcase("candidates an object", rerank_with(candidates={"id": 1}), status=422, code="invalid_value")
jcase(
    "candidates 51",
    rerank_with(candidates=[{"id": i, "embedding": QUERY} for i in range(51)]),
    status=413,
    code="too_many_candidates",
)
jcase("candidate a number", rerank_with(candidates=[5]), status=422, code="invalid_value")
jcase("candidate without id", rerank_with(candidates=[{"embedding": QUERY}]), status=422, code="missing_field")
jcase("candidate without vector", rerank_with(candidates=[{"id": 1}]), status=422, code="missing_field")
jcase("candidate id bool", rerank_with(candidates=[{"id": True, "embedding": QUERY}]), status=422, code="invalid_value")
jcase("candidate id float", rerank_with(candidates=[{"id": 1.5, "embedding": QUERY}]), status=422, code="invalid_value")
jcase("candidate id null", rerank_with(candidates=[{"id": None, "embedding": QUERY}]), status=422, code="invalid_value")
jcase("candidate id 1 MB", rerank_with(candidates=[{"id": "x" * 1_000_000, "embedding": QUERY}]), OK)
jcase(
    "ids 1 and '1'",
    rerank_with(candidates=[{"id": 1, "embedding": QUERY}, {"id": "1", "embedding": QUERY}], debug=True),
    OK,
)
jcase("duplicate ids", rerank_with(candidates=[{"id": 1, "embedding": QUERY}] * 2), status=422, code="duplicate_id")
jcase("dim mismatch", rerank_with(candidates=[{"id": 1, "embedding": [1.0, 0.0]}]), status=422, code="dim_mismatch")
jcase(
    "candidate extra field",
    rerank_with(candidates=[{"id": 1, "embedding": QUERY, "x": 1}]),
    status=422,
    code="unknown_field",
)
jcase(
    "candidate both vectors",
    rerank_with(candidates=[{"id": 1, "embedding": QUERY, "embedding_b64": b64(b"\0" * 16)}]),
    status=422,
    code="invalid_value",
)
jcase(
    "candidate b64 wrong width",
    rerank_with(candidates=[{"id": 1, "embedding_b64": b64(b"\0" * 8)}]),
    status=422,
    code="dim_mismatch",
)
jcase(
    "candidate NaN as b64",
    rerank_with(candidates=[{"id": 1, "embedding_b64": b64(b"\x00\x00\xc0\x7f" * 4)}]),
    status=422,
    code="non_finite",
)
jcase("query 1M dims", rerank_with(query=[1.0] * 100_000, candidates=[{"id": 1, "embedding": [1.0] * 100_000}]), OK)
jcase("embed: empty object", b"{}", path=EMBED, status=422, code="missing_field")
jcase("embed: images a string", orjson.dumps({"images": "abc"}), path=EMBED, status=422, code="invalid_value")
jcase("embed: images empty", orjson.dumps({"images": []}), path=EMBED, status=422, code="empty")
jcase("embed: 5 images", orjson.dumps({"images": ["aGk="] * 5}), path=EMBED, status=413, code="too_many_images")
jcase("embed: image a number", orjson.dumps({"images": [5]}), path=EMBED, status=422, code="invalid_value")
jcase(
    "embed: image object extra", orjson.dumps({"images": [{"id": 1, "data": "aGk=", "x": 1}]}), path=EMBED, status=422
)
jcase(
    "embed: image id nested 300",
    b'{"images":[{"id":' + b"[" * 300 + b"]" * 300 + b',"data":"aGk="}]}',
    path=EMBED,
    status=422,
    code="invalid_value",
)
jcase("embed: bad base64 image", orjson.dumps({"images": ["%%%"]}), OK, path=EMBED)
jcase("embed: empty image", orjson.dumps({"images": [""]}), OK, path=EMBED)
jcase("embed: not an image", orjson.dumps({"images": [b64(b"hello world")]}), OK, path=EMBED)
jcase("embed: truncated PNG", orjson.dumps({"images": [b64(png()[:60])]}), OK, path=EMBED)
jcase("embed: 1x1 image", orjson.dumps({"images": [b64(png(1, 1))]}), OK, path=EMBED)
jcase(
    "embed: PNG bomb header",
    orjson.dumps({"images": [b64(png()[:16] + (60000).to_bytes(4, "big") * 2 + png()[24:])]}),
    OK,
    path=EMBED,
)
jcase(
    "embed: det_threshold 0",
    orjson.dumps({"images": [b64(png())], "det_threshold": 0}),
    path=EMBED,
    status=422,
    code="invalid_value",
)
jcase("embed: det_threshold null", orjson.dumps({"images": [b64(png())], "det_threshold": None}), OK, path=EMBED)
jcase(
    "embed: max_faces 0",
    orjson.dumps({"images": [b64(png())], "max_faces": 0}),
    path=EMBED,
    status=422,
    code="invalid_value",
)
jcase(
    "embed: max_faces 10**6",
    orjson.dumps({"images": [b64(png())], "max_faces": 10**6}),
    path=EMBED,
    status=422,
    code="invalid_value",
)
jcase(
    "embed: min_face_size -1",
    orjson.dumps({"images": [b64(png())], "min_face_size": -1}),
    path=EMBED,
    status=422,
    code="invalid_value",
)
jcase(
    "embed: normalize a string",
    orjson.dumps({"images": [b64(png())], "normalize": "true"}),
    path=EMBED,
    status=422,
    code="invalid_value",
)
jcase(
    "embed: unknown option",
    orjson.dumps({"images": [b64(png())], "bogus": 1}),
    path=EMBED,
    status=422,
    code="unknown_field",
)
jcase("embed: good", GOOD_EMBED, OK, path=EMBED)

# ---- multipart -------------------------------------------------------------------------------------------


def part(
    name: bytes, data: bytes, filename: bytes | None = None, boundary: bytes = b"abc", extra: bytes = b""
) -> bytes:
    disposition = b'form-data; name="' + name + b'"' + (b'; filename="' + filename + b'"' if filename else b"")
    return b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n" + extra + b"\r\n" + data + b"\r\n"


def mcase(name: str, body: bytes, content_type: str = MP + "abc", expect: str = JSON4XX, **kw) -> None:
    add(f"multipart: {name}", req("POST", EMBED, body, {"Content-Type": content_type}), expect, **kw)


IMAGE_PART = part(b"images", png(), b"a.png")
END = b"--abc--\r\n"
MP_ROBYN = {"robyn": ROBYN_MULTIPART_500}
# Granian: the documented 4xx; Robyn: its documented 415 multipart_unsupported is as good.
mcase("good", IMAGE_PART + END, expect=SAFE)
mcase(
    "no boundary",
    IMAGE_PART + END,
    "multipart/form-data",
    code=("malformed_multipart", "multipart_unsupported"),
    xfail=MP_ROBYN,
)
mcase("empty boundary", IMAGE_PART + END, MP, code=("malformed_multipart", "multipart_unsupported"))
mcase("quoted boundary", IMAGE_PART + END, MP + '"abc"', expect=SAFE)
mcase(
    "300-char boundary",
    part(b"images", b"x", b"a", b"b" * 300) + b"--" + b"b" * 300 + b"--\r\n",
    MP + "b" * 300,
    code=("malformed_multipart", "multipart_unsupported"),
)
mcase(
    "70-char boundary",
    part(b"images", png(), b"a", b"b" * 70) + b"--" + b"b" * 70 + b"--\r\n",
    MP + "b" * 70,
    expect=SAFE,
)
mcase("no closing delimiter", IMAGE_PART, code=("malformed_multipart", "multipart_unsupported"), xfail=MP_ROBYN)
mcase("truncated in a part", IMAGE_PART[:50], code=("malformed_multipart", "multipart_unsupported"), xfail=MP_ROBYN)
mcase("0xFF in name", part(b"\xff", b"1") + END, code=("malformed_multipart", "multipart_unsupported"), xfail=MP_ROBYN)
mcase("0xFF in filename", part(b"images", png(), b"\xff\xfe.png") + END, expect=SAFE, xfail=MP_ROBYN)
mcase("no Content-Disposition", b"--abc\r\nX-A: b\r\n\r\nxx\r\n" + END, xfail=MP_ROBYN)
mcase("only the closing delimiter", END, code=("empty", "multipart_unsupported", "malformed_multipart"), xfail=MP_ROBYN)
mcase("empty body", b"", code=("empty_body", "malformed_multipart", "multipart_unsupported", "empty"), xfail=MP_ROBYN)
mcase("preamble and epilogue", b"preamble\r\n" + IMAGE_PART + END + b"epilogue", expect=SAFE)
mcase("option not JSON", IMAGE_PART + part(b"max_faces", b"abc") + END, code=("invalid_value", "multipart_unsupported"))
mcase(
    "option out of range",
    IMAGE_PART + part(b"det_threshold", b"0") + END,
    code=("invalid_value", "multipart_unsupported"),
)
mcase("only options", part(b"max_faces", b"1") + END, code=("empty", "multipart_unsupported"))
mcase("unknown option", IMAGE_PART + part(b"bogus", b"1") + END, code=("unknown_field", "multipart_unsupported"))
mcase(
    "5 images",
    IMAGE_PART * 5 + END,
    status=(413, 415),  # Robyn: its documented 415 multipart_unsupported
    code=("too_many_images", "multipart_unsupported"),
)
mcase(
    "10,000 parts",
    part(b"x", b"1") * 10_000 + END,
    code=("unknown_field", "multipart_unsupported", "empty", "invalid_value"),
)
mcase(
    "100 KB part header",
    b'--abc\r\nContent-Disposition: form-data; name="images"\r\nX-Big: ' + b"a" * 100_000 + b"\r\n\r\nxx\r\n" + END,
    expect=SAFE,
)
mcase(
    "nested multipart/mixed",
    b'--abc\r\nContent-Disposition: form-data; name="images"\r\n'
    + b"Content-Type: multipart/mixed; boundary=def\r\n\r\n"
    + b'--def\r\nContent-Disposition: file; filename="a.png"\r\n\r\n'
    + png()
    + b"\r\n--def--\r\n\r\n"
    + END,
    expect=SAFE,
    xfail=MP_ROBYN,
)
mcase(
    "bare LF line ends",
    IMAGE_PART.replace(b"\r\n", b"\n") + END.replace(b"\r\n", b"\n"),
    code=("malformed_multipart", "multipart_unsupported", "empty"),
    xfail=MP_ROBYN,
)
mcase("boundary with spaces", part(b"images", png(), b"a", b"a b") + b"--a b--\r\n", MP + '"a b"', expect=SAFE)
mcase(
    "JSON body under multipart type", GOOD_EMBED, code=("malformed_multipart", "multipart_unsupported"), xfail=MP_ROBYN
)
mcase("charset parameter", IMAGE_PART + END, MP + "abc; charset=utf-8", expect=SAFE)
mcase(
    "over the body limit",
    IMAGE_PART + b"x" * (MAX_BODY_BYTES + 10) + END,
    status=413,
    code="body_too_large",
    xfail={"robyn": ROBYN_MULTIPART_SLOW},
)

# ---- auth (keys are set on every hostile server) ----------------------------------------------------------

add("no key", req("GET", "/v1/info", key=False), JSON4XX, status=401, code="unauthorized")
add("wrong key", req("GET", "/v1/info", headers={"X-API-Key": "nope"}), JSON4XX, status=401, code="unauthorized")
add("empty key", req("GET", "/v1/info", headers={"X-API-Key": ""}), JSON4XX, status=401)
add("empty bearer", req("GET", "/v1/info", headers={"Authorization": "Bearer "}), JSON4XX, status=401)
add("bearer lower case", req("GET", "/v1/info", headers={"Authorization": "bearer " + API_KEY}), OK)
add("bearer with spaces", req("GET", "/v1/info", headers={"Authorization": "Bearer   " + API_KEY + "  "}), OK)
add(
    "basic scheme",
    req("GET", "/v1/info", headers={"Authorization": "Basic " + b64(API_KEY.encode())}),
    JSON4XX,
    status=401,
)
add("key as prefix", req("GET", "/v1/info", headers={"X-API-Key": API_KEY[:-1]}), JSON4XX, status=401)
add("key with suffix", req("GET", "/v1/info", headers={"X-API-Key": API_KEY + "x"}), JSON4XX, status=401)
add("key upper-cased", req("GET", "/v1/info", headers={"X-API-Key": API_KEY.upper()}), JSON4XX, status=401)
add("key with 0xFF", req("GET", "/v1/info", headers={"X-API-Key": "\xff" + API_KEY}), JSON4XX, status=401)
add("key with NUL", req("GET", "/v1/info", headers={"X-API-Key": API_KEY + "\x00"}), REFUSED)
add("key 100 KB", req("GET", "/v1/info", headers={"X-API-Key": "k" * 100_000}), SAFE)
add("two keys, wrong then right", req("GET", "/v1/info", headers=[("X-API-Key", "nope"), ("X-API-Key", API_KEY)]), SAFE)
add("key in the query string", req("GET", "/v1/info?api_key=" + API_KEY, key=False), JSON4XX, status=401)
add(
    "wrong bearer, right header",
    req("GET", "/v1/info", headers={"X-API-Key": API_KEY, "Authorization": "Bearer nope"}),
    JSON4XX,
    status=401,
)
add(
    "keyless POST rerank",
    req("POST", RERANK, GOOD_BODY, {"Content-Type": "application/json"}, key=False),
    JSON4XX,
    status=401,
)
add(
    "keyless 2.9 MB upload",
    req("POST", EMBED, b'{"images":["' + b"A" * 2_900_000 + b'"]}', {"Content-Type": "application/json"}, key=False),
    JSON4XX,
    status=401,
)
add(
    "keyless chunked, never ends",
    req(
        "POST",
        EMBED,
        b"10\r\n" + b"A" * 16 + b"\r\n",
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        key=False,
    ),
    JSON4XX,
    status=401,
    xfail={"robyn": ROBYN_BUFFERS_FIRST},
)
add("keyless to an open path", req("GET", "/healthz", key=False), OK)
add("keyless readyz", req("GET", "/readyz", key=False), OK)
add("keyless page", req("GET", "/", key=False), OK)
add("keyless unknown path", req("GET", "/nope", key=False), JSON4XX, status=(401, 404))
