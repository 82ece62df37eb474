"""The web page and the offline Swagger UI: files of the package folder facev3/web, read once when
the Api is built and answered from memory.

Pages (the .html files) are served at their own routes (`/` and `/docs`) with a
Content-Security-Policy; every other file is served at /static/<its path under web/>. Only names
found in the package at start are ever answered, each an exact entry of the route table, so no
request path reaches the file system: `..`, encoded or not, is simply an unknown route (404 JSON).
Responses carry an ETag and `Cache-Control: no-cache`: browsers keep the files but revalidate
them (a 304 without a body), so an upgraded wheel is picked up at once without versioned URLs.
"""

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from facev3.api.errors import ApiError
from facev3.api.messages import HttpRequest, HttpResponse

STATIC_PREFIX = "/static/"
# Scripts, styles, fetches and images from this origin only; no inline script or style, no eval.
# img-src adds data: (the aligned crops, PNG in base64) and blob: (the photos picked, shown
# without a round trip). Swagger UI runs under the same policy.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _walk(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        else:
            yield f"{prefix}{entry.name}", entry


def _suffix(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return base[base.rfind(".") :] if "." in base else ""


def load(folder: Traversable) -> dict[str, Asset]:
    """Every file under `folder` with a known type, by its path relative to it."""
    assets = {}
    for name, entry in _walk(folder):
        content_type = CONTENT_TYPES.get(_suffix(name))
        if content_type is None:
            continue  # e.g. __pycache__ leftovers or editor files: never served
        body = entry.read_bytes()
        assets[name] = Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return assets


class StaticFiles:
    """The packaged web files as route handlers."""

    def __init__(self, folder: Traversable | None = None) -> None:
        self.assets = load(folder if folder is not None else resources.files("facev3") / "web")

    @property
    def asset_paths(self) -> list[str]:
        """The routes of the files that are not pages: /static/app.js, /static/swagger-ui/..."""
        return [STATIC_PREFIX + name for name in self.assets if not name.endswith(".html")]

    def asset(self, request: HttpRequest) -> HttpResponse:
        name = request.path.removeprefix(STATIC_PREFIX)
        if not request.path.startswith(STATIC_PREFIX) or name.endswith(".html") or name not in self.assets:
            raise ApiError(404, "not_found", f"no route {request.path}")
        return _respond(self.assets[name], request, ())

    def page(self, name: str) -> Callable[[HttpRequest], HttpResponse]:
        """The handler of one page (a packaged .html file), served with PAGE_CSP."""
        asset = self.assets[name]  # a missing page fails at start, not on the first request
        return lambda request: _respond(asset, request, (("content-security-policy", PAGE_CSP),))


def _respond(asset: Asset, request: HttpRequest, extra: tuple[tuple[str, str], ...]) -> HttpResponse:
    headers = (
        ("etag", asset.etag),
        ("cache-control", "no-cache"),
        ("x-content-type-options", "nosniff"),
        *extra,
    )
    if asset.etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
        return HttpResponse(304, b"", asset.content_type, headers)
    return HttpResponse(200, asset.body, asset.content_type, headers)
