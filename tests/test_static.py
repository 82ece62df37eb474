"""The web page, its files and the offline Swagger UI, served in-process through Api.handle (no HTTP
server): content types, the Content-Security-Policy, ETags, no key needed, no path outside the
packaged files, and pages that reference only what the package serves. The files are read from the
installed facev3 (importlib.resources), so these tests also show that they ship in the wheel. The
page in a real browser: test_browser.py."""

import hashlib
import re
import uuid
from html.parser import HTMLParser

import orjson
import pytest

from facev3 import bootstrap
from facev3.api import static
from facev3.api.messages import HttpRequest
from facev3.config import load_settings

API_KEY = "test-key-" + uuid.uuid4().hex[:8]
PAGES = ["/", "/docs"]


@pytest.fixture(scope="module")
def api():
    api = bootstrap.build_api(load_settings({"FACEV3_API_KEYS": API_KEY}))
    yield api
    api.close()


def get(api, path: str, headers: dict | None = None, method: str = "GET"):
    response = api.handle(HttpRequest(method, path, headers or {}, b""))
    return response.status, {"content-type": response.content_type, **dict(response.headers)}, response.body


class References(HTMLParser):
    """Every src and href of a page, and whether it has inline scripts or event handlers."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.urls, self.inline, self._in_script = [], [], False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [attrs[name] for name in ("src", "href") if name in attrs]
        self.inline += [name for name in attrs if name.startswith("on")]
        self._in_script = tag == "script"
        if tag == "script" and "src" not in attrs:
            self.inline.append("script without src")

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline.append("inline script")

    def handle_endtag(self, tag):
        self._in_script = False


def test_the_page_is_served_as_html_with_a_content_security_policy(api):
    status, headers, body = get(api, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data: blob:" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert b'<script src="/static/app.js"' in body


def test_the_docs_page_has_the_same_policy_and_renders_the_packaged_swagger_ui(api):
    status, headers, body = get(api, "/docs")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert headers["content-security-policy"] == static.PAGE_CSP
    urls = References(body.decode()).urls
    assert {"/static/swagger-ui/swagger-ui-bundle.js", "/static/swagger-ui/swagger-ui.css", "/static/docs.js"} <= set(
        urls
    )
    assert b'url: "/openapi.json"' in get(api, "/static/docs.js")[2]


@pytest.mark.parametrize("page", PAGES)
def test_pages_reference_only_local_files_and_every_reference_resolves(api, page):
    html = get(api, page)[2].decode()
    assert not re.search(r"https?://", html), "a page may load nothing from another origin"
    for url in References(html).urls:
        if url.startswith("data:"):
            continue
        assert url.startswith("/"), url
        status, _, _ = get(api, url)  # no key: what a page loads must not need one
        assert status == 200, url


@pytest.mark.parametrize("page", PAGES)
def test_pages_have_no_inline_scripts_or_event_handlers(api, page):
    assert References(get(api, page)[2].decode()).inline == []


def test_the_page_script_builds_no_code_and_no_html_from_strings():
    script = static.StaticFiles().assets["app.js"].body.decode()
    for construct in ("eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert construct not in script, construct


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("/static/swagger-ui/swagger-ui.css", "text/css; charset=utf-8"),
        ("/static/swagger-ui/LICENSE", "text/plain; charset=utf-8"),
    ],
)
def test_files_are_served_with_their_type_and_revalidated_by_etag(api, path, content_type):
    status, headers, body = get(api, path)
    assert status == 200 and headers["content-type"] == content_type and body
    assert headers["cache-control"] == "no-cache" and headers["x-content-type-options"] == "nosniff"
    assert headers["etag"] == '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    status, headers, body = get(api, path, {"if-none-match": f'"other", {headers["etag"]}'})
    assert status == 304 and body == b""
    assert get(api, path, {"if-none-match": '"other"'})[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/../bootstrap.py",
        "/static/%2e%2e/bootstrap.py",
        "/static/%2E%2E%2Fbootstrap.py",
        "/static/..%2fapi%2fhandlers.py",
        "/static/swagger-ui/../../bootstrap.py",
        "/static/..\\bootstrap.py",
        "/static//etc/passwd",
        "/static/",
        "/static",
        "/static/APP.JS",
        "/static/nope.js",
        "/static/index.html",  # pages only at their own routes, with their policy
        "/static/app.js%00.html",
        "/../python/facev3/web/app.js",
    ],
)
def test_paths_outside_the_packaged_files_are_404_json_even_without_a_key(api, path):
    status, headers, body = get(api, path)
    assert status == 404 and headers["content-type"] == "application/json"
    assert orjson.loads(body)["error"]["code"] == "not_found"


def test_files_answer_get_only(api):
    status, _, body = get(api, "/static/app.js", method="POST")
    assert status == 405 and orjson.loads(body)["error"]["code"] == "method_not_allowed"


def test_pages_files_and_the_openapi_document_need_no_key_but_the_api_does(api):
    for path in ["/", "/docs", "/openapi.json", "/static/app.js", "/static/swagger-ui/swagger-ui-bundle.js"]:
        assert get(api, path)[0] == 200, path
    assert get(api, "/v1/info")[0] == 401
    assert get(api, "/v1/info", {"x-api-key": API_KEY})[0] == 200


def test_the_vendored_swagger_ui_is_the_one_its_source_note_names():
    assets = static.StaticFiles().assets
    note = assets["swagger-ui/SOURCE.txt"].body.decode()
    listed = dict(reversed(line.split()) for line in note.splitlines() if re.fullmatch(r"[0-9a-f]{64}  \S+", line))
    assert set(listed) == {"swagger-ui-bundle.js", "swagger-ui.css"}
    for name, digest in listed.items():
        assert hashlib.sha256(assets[f"swagger-ui/{name}"].body).hexdigest() == digest, name
    assert {"swagger-ui/LICENSE", "swagger-ui/NOTICE"} <= set(assets)


def test_only_files_of_known_types_are_loaded_by_their_relative_path(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text("<p>page</p>")
    (tmp_path / "sub" / "a.js").write_text("1")
    (tmp_path / "notes.bak").write_text("never served")
    files = static.StaticFiles(tmp_path)
    assert set(files.assets) == {"index.html", "sub/a.js"}
    assert files.asset_paths == ["/static/sub/a.js"]
    with pytest.raises(KeyError):
        files.page("missing.html")
