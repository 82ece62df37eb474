"""A raw-socket HTTP/1.1 client for hostile cases: it sends exactly the bytes it is given (with
pauses, for slow clients), then reads what comes back until a whole answer, a close or a deadline,
and says which of the three happened. Nothing is normalized or fixed up on the way out."""

import select
import socket
import time
from dataclasses import dataclass, field

import orjson

FIN = "FIN"  # a part of `exchange` that half-closes the connection (the client sends no more)


@dataclass
class Reply:
    """What the server did with one connection."""

    status: int | None = None  # of the first final (non-1xx) answer; None: no answer
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names; repeats joined by ", "
    body: bytes = b""
    answers: int = 0  # complete final answers read (pipelining)
    statuses: list[int] = field(default_factory=list)
    closed: bool = False  # the server closed (or reset) the connection
    reset: bool = False
    hung: bool = False  # the deadline passed with the connection open and no whole answer
    elapsed: float = 0.0  # seconds from the first byte sent to the outcome
    raw: bytes = b""

    def json(self):
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None

    @property
    def error_code(self) -> str | None:
        payload = self.json()
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            return payload["error"].get("code")
        return None

    @property
    def is_error_json(self) -> bool:
        """The contract: {"error": {"code": str, "message": str}} and nothing else, as JSON."""
        payload = self.json()
        return (
            self.headers.get("content-type", "").startswith("application/json")
            and isinstance(payload, dict)
            and set(payload) == {"error"}
            and isinstance(payload["error"], dict)
            and isinstance(payload["error"].get("code"), str)
            and isinstance(payload["error"].get("message"), str)
        )

    def describe(self) -> str:
        what = f"status={self.status} answers={self.answers} closed={self.closed} hung={self.hung}"
        return f"{what} after {self.elapsed:.2f}s; head+body: {self.raw[:600]!r}"


def _parse(raw: bytes, head_only: bool) -> tuple[list[tuple[int, dict, bytes]], bool]:
    """The whole final answers at the start of `raw` and whether an incomplete one follows."""
    answers, rest = [], raw
    while rest:
        end = rest.find(b"\r\n\r\n")
        if end < 0:
            return answers, True
        lines = rest[:end].split(b"\r\n")
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            return answers, True
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        rest = rest[end + 4 :]
        if 100 <= status < 200:
            continue
        if head_only or status in (204, 304):
            answers.append((status, headers, b""))
            continue
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, ok = b"", False
            while True:
                line_end = rest.find(b"\r\n")
                if line_end < 0:
                    break
                try:
                    size = int(rest[:line_end].split(b";")[0], 16)
                except ValueError:
                    break
                if size == 0:
                    trailer_end = rest.find(b"\r\n\r\n", line_end)
                    if trailer_end < 0 and rest[line_end + 2 : line_end + 4] != b"\r\n":
                        break
                    rest = rest[(trailer_end + 4 if trailer_end >= 0 else line_end + 4) :]
                    ok = True
                    break
                if len(rest) < line_end + 2 + size + 2:
                    break
                body += rest[line_end + 2 : line_end + 2 + size]
                rest = rest[line_end + 2 + size + 2 :]
            if not ok:
                return answers, True
            answers.append((status, headers, body))
            continue
        if "content-length" in headers:
            length = int(headers["content-length"].split(",")[0])
            if len(rest) < length:
                return answers, True
            answers.append((status, headers, rest[:length]))
            rest = rest[length:]
            continue
        # Neither length nor chunks: the body runs to the close.
        answers.append((status, headers, rest))
        return answers, True
    return answers, False


def _wait(sock: socket.socket, event: int, seconds: float) -> bool:
    """Whether `sock` is ready for `event` (or closed) within `seconds` (poll: descriptors above
    1,024 are fine, unlike select)."""
    poller = select.poll()
    poller.register(sock, event)
    return bool(poller.poll(max(0, int(seconds * 1000))))


def exchange(
    port: int,
    parts,
    deadline_s: float = 10.0,
    expect: int = 1,
    head_only: bool = False,
    host: str = "127.0.0.1",
) -> Reply:
    """Sends `parts` (bytes, a float: pause that many seconds, or FIN) over one connection and reads
    until `expect` whole answers, a close, or `deadline_s` after the first byte."""
    if isinstance(parts, bytes | bytearray):
        parts = [parts]
    reply = Reply()
    sock = socket.create_connection((host, port), timeout=deadline_s)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    started = time.monotonic()
    deadline = started + deadline_s
    raw = bytearray()

    def drain(wait: float) -> bool:
        """Reads what is there within `wait`; False once the peer has closed."""
        if not _wait(sock, select.POLLIN, wait):
            return True
        try:
            data = sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            reply.reset = True
            return False
        except TimeoutError:
            return True
        if not data:
            return False
        raw.extend(data)
        return True

    def done() -> bool:
        answers, _ = _parse(bytes(raw), head_only)
        return len(answers) >= expect

    open_ = sending = True
    try:
        for part in parts:
            if not open_ or not sending or done():
                break
            if part == FIN:  # the client is done sending: half-close
                sock.shutdown(socket.SHUT_WR)
                continue
            if isinstance(part, int | float):
                pause_end = min(deadline, time.monotonic() + part)
                while open_ and time.monotonic() < pause_end and not done():
                    open_ = drain(pause_end - time.monotonic())
                continue
            view = memoryview(bytes(part))
            while view and open_ and sending and not done():
                if not _wait(sock, select.POLLOUT, deadline - time.monotonic()):
                    break
                try:
                    sent = sock.send(view[: 1 << 16])
                except (BrokenPipeError, ConnectionResetError):
                    # The server stopped reading (an early answer, then its close): read what it said.
                    reply.reset = True
                    sending = False
                    break
                view = view[sent:]
                open_ = drain(0)
            if time.monotonic() >= deadline:
                break
        while open_ and not done() and time.monotonic() < deadline:
            open_ = drain(deadline - time.monotonic())
    finally:
        reply.elapsed = time.monotonic() - started
        sock.close()
    answers, _ = _parse(bytes(raw), head_only)
    reply.raw = bytes(raw)
    reply.closed = not open_
    reply.answers = len(answers)
    reply.statuses = [status for status, _, _ in answers]
    if answers:
        reply.status, reply.headers, reply.body = answers[0]
    elif raw and not open_:  # a head, maybe a partial body, then the close
        partial, _ = _parse(bytes(raw) + b"\r\n\r\n", True)
        if partial:
            reply.status, reply.headers = partial[0][0], partial[0][1]
    reply.hung = open_ and len(answers) < expect
    return reply


def request(
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    length: bool = True,
    close: bool = True,
    version: str = "HTTP/1.1",
) -> bytes:
    """A request as bytes: Host, Content-Length (when `length` and there is a body) and
    Connection: close unless the headers already name them."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {name.lower() for name, _ in items}
    if "host" not in names:
        items.insert(0, ("Host", "127.0.0.1"))
    if length and body and "content-length" not in names and "transfer-encoding" not in names:
        items.append(("Content-Length", str(len(body))))
    if close and "connection" not in names:
        items.append(("Connection", "close"))
    head = f"{method} {path} {version}\r\n".encode("latin-1")
    head += b"".join(
        (name if isinstance(name, bytes) else name.encode("latin-1"))
        + b": "
        + (value if isinstance(value, bytes) else value.encode("latin-1"))
        + b"\r\n"
        for name, value in items
    )
    return head + b"\r\n" + body


def chunked(*pieces: bytes) -> bytes:
    """A well-formed chunked body of `pieces`, with its last chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces if piece) + b"0\r\n\r\n"
