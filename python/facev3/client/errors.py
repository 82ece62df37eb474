"""What the client raises: one FaceV3Error carrying the service's error code, subclassed by the
kind of problem, so callers can catch what they can act on (fix the key, fix the request, back
off) and still read `code` for the details.

The service answers every error as `{"error": {"code", "message"}}`; statuses and codes are
listed in the README's HTTP API section."""

from email.utils import parsedate_to_datetime
from time import time


class FaceV3Error(Exception):
    """`status` is the HTTP status (None when no answer came), `code` the service's stable code
    (e.g. "too_many_candidates"; for transport failures the client's own: "connect_error",
    "timeout", "network_error"), `message` its text, `retry_after` the seconds the service asked to
    wait (503), `attempts` how many requests were made before giving up."""

    def __init__(
        self, status: int | None, code: str, message: str, retry_after: float | None = None, attempts: int = 1
    ) -> None:
        super().__init__(f"{code}: {message}" + (f" (HTTP {status})" if status else ""))
        self.status, self.code, self.message = status, code, message
        self.retry_after, self.attempts = retry_after, attempts


class AuthError(FaceV3Error):
    """401 (code "unauthorized"): no API key, or not one the service accepts."""


class RequestError(FaceV3Error):
    """Any other 4xx: the request itself is wrong (bad value, too many candidates, body too large,
    dim_mismatch...); sending it again cannot help, so it is never retried."""


class ServerError(FaceV3Error):
    """5xx, or an answer the client cannot read."""


class Unavailable(ServerError):
    """502, 503 or 504 still there after the retries: the service is overloaded ("overloaded"),
    its inference backend is down ("backend_unavailable"), a request ran out of time
    ("deadline_exceeded"), or a proxy in front of it had no upstream."""


class TransportError(FaceV3Error):
    """No HTTP answer: the connection was refused or broke, or a timeout ran out (status None)."""


class ImageError(FaceV3Error):
    """compare(): a photo could not be read (the image's own code, e.g. "corrupt_image") or has no
    face ("no_face")."""


def class_for(status: int) -> type[FaceV3Error]:
    if status in (401, 403):
        return AuthError
    if status in (502, 503, 504):
        return Unavailable
    return RequestError if status < 500 else ServerError


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (RFC 9110: a number of seconds or an HTTP date); None when absent or
    unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None
