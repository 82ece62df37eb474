"""The page at / and the docs at /docs in a real browser: Debian's Chromium, headless, driven by
Selenium through Debian's chromedriver (nothing downloads a browser), against a Granian server
on loopback with an API key and real models. Screenshots of each test's last state go to
build/test-artifacts/browser/ (ignored by git), kept whether the test passes or fails. Any
Content-Security-Policy violation or uncaught script error on a page fails its test."""

import base64
import uuid
from pathlib import Path

import pytest

from tests.support.photos import photo_path
from tests.support.servers import ROOT, Server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / "build" / "test-artifacts" / "browser"
API_KEY = "test-key-" + uuid.uuid4().hex[:8]
WAIT_S = 90  # a first embedding request on a loaded 2-core machine takes seconds
# Without the networking flags Chromium keeps trying to reach Google's services, which a closed
# network refuses many times a second; --no-sandbox because CI runs as root.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1200",
]

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver): see .ci/run",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Granian with a key, two images per request at most, and a Milvus gallery of two people."""
    from facev3.cli import main

    gallery = tmp_path_factory.mktemp("gallery") / "faces.db"
    for name, label in (("Rob_Lowe_0001.jpg", "rob"), ("obama_small.jpg", "obama")):
        assert main(["gallery", "add", str(photo_path(name)), "--label", label, "--milvus", str(gallery)]) == 0
    env = {"FACEV3_API_KEYS": API_KEY, "FACEV3_MAX_IMAGES": "2", "FACEV3_GALLERY": str(gallery)}
    server = Server("granian", env, workers=1, api_key=API_KEY)
    yield server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


@pytest.fixture
def browser(driver, server, request):
    """The driver on a new tab-less state (no key kept), with a screenshot of where it ends."""
    driver.get(url(server, "/static/style.css"))  # same origin as the page: its storage is cleared
    driver.execute_script("sessionStorage.clear()")
    driver.get_log("browser")  # drop what earlier tests left
    yield driver
    screenshot(driver, request.node.name)


def screenshot(driver, name: str) -> None:
    """The whole page, not only the window (DevTools protocol)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def url(server, path: str) -> str:
    return f"http://127.0.0.1:{server.port}{path}"


def wait_for(driver, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(lambda d: condition(d), message)


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def assert_no_page_errors(driver):
    """No CSP violation and no uncaught script error (failed requests the page shows, such as a 401
    before the key is given, are part of its behaviour and allowed)."""
    problems = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and ("Content Security Policy" in entry["message"] or "Uncaught" in entry["message"])
    ]
    assert problems == []


def open_page(driver, server, key: str | None = API_KEY):
    from selenium.webdriver.common.keys import Keys

    driver.get(url(server, "/"))
    if key is not None:
        css(driver, "#api-key")[0].send_keys(key, Keys.TAB)  # the key is taken on change
        wait_for(driver, lambda d: css(d, "#info")[0].get_attribute("data-state") == "ok", "/v1/info shown")


def upload(driver, *names: str):
    css(driver, "#files")[0].send_keys("\n".join(str(photo_path(name)) for name in names))


def card(driver, name: str):
    found = css(driver, f'article.photo[data-name="{name}"]')
    return found[0] if found else None


def wait_for_card(driver, name: str, status: str = "ok"):
    def ready(d):
        found = card(d, name)
        return found if found is not None and found.get_attribute("data-status") == status else None

    return wait_for(driver, ready, f"{name} {status}")


def compare(driver) -> dict[str, str]:
    css(driver, "#compare")[0].click()
    wait_for(driver, lambda d: css(d, "#compare-result")[0].get_attribute("data-state") == "done", "a comparison")
    result = css(driver, "#compare-result")[0]
    return {name: result.get_attribute(f"data-{name}") for name in ("score", "cosine", "match")} | {"text": result.text}


def test_the_page_shows_the_services_limits_once_the_key_is_given(browser, server):
    open_page(browser, server, key=None)
    wait_for(browser, lambda d: css(d, "#info")[0].get_attribute("data-state") == "error", "the 401 shown")
    assert "unauthorized" in css(browser, "#info-error")[0].text
    upload(browser, "t1.jpg")
    photo = wait_for_card(browser, "t1.jpg", "error")
    assert "unauthorized" in photo.find_element("css selector", ".error").text

    open_page(browser, server)
    info = css(browser, "#info")[0].text
    served = server.call("GET", "/v1/info")[2]
    assert "images per request\n2" in info and served["embedder"]["name"] in info and served["version"] in info
    assert_no_page_errors(browser)


def test_a_group_photo_gets_every_face_boxed_with_its_landmarks_score_and_crop(browser, server):
    open_page(browser, server)
    upload(browser, "t1.jpg")
    photo = wait_for_card(browser, "t1.jpg")
    assert photo.get_attribute("data-faces") == "6" and "6 faces" in photo.text
    boxes = photo.find_elements("css selector", ".face-box")
    assert len(boxes) == 6 and len(photo.find_elements("css selector", ".landmark")) == 6 * 5
    assert all(box.size["width"] > 10 and box.size["height"] > 10 for box in boxes)
    picture = photo.find_element("css selector", "img.picture").rect
    for box in boxes:  # drawn on the photo, not beside it
        r = box.rect
        assert picture["x"] - 1 <= r["x"] and r["x"] + r["width"] <= picture["x"] + picture["width"] + 1
        assert picture["y"] - 1 <= r["y"] and r["y"] + r["height"] <= picture["y"] + picture["height"] + 1
    scores = [float(box.text.split("·")[1]) for box in boxes]
    assert all(0.5 < score <= 1 for score in scores)
    crops = photo.find_elements("css selector", ".crop img")
    assert len(crops) == 6
    assert all(browser.execute_script("return arguments[0].naturalWidth", crop) == 112 for crop in crops)
    assert_no_page_errors(browser)


def test_a_file_that_is_no_image_gets_its_own_error_beside_good_photos(browser, server):
    open_page(browser, server)
    upload(browser, "obama_small.jpg")
    css(browser, "#files")[0].send_keys(str(ROOT / "tests" / "data" / "SOURCES.md"))
    bad = wait_for_card(browser, "SOURCES.md", "error")
    assert "unsupported_format" in bad.find_element("css selector", ".error").text
    assert wait_for_card(browser, "obama_small.jpg").get_attribute("data-faces") == "1"
    assert_no_page_errors(browser)


def test_two_photos_of_one_person_match_and_a_stranger_does_not(browser, server):
    open_page(browser, server)
    upload(browser, "Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg", "t1.jpg")  # two requests: 2 images at most
    first, second, group = (
        wait_for_card(browser, name) for name in ("Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg", "t1.jpg")
    )
    assert css(browser, "#compare")[0].get_attribute("disabled") is not None

    first.find_element("css selector", '.face-box[data-face="0"]').click()
    second.find_element("css selector", '.crop[data-face="0"]').click()
    same = compare(browser)
    assert same["match"] == "true" and float(same["score"]) > 0.5, same
    assert "Match" in same["text"]
    screenshot(browser, "compare_same_person")

    second.find_element("css selector", '.crop[data-face="0"]').click()  # unpicks it
    group.find_element("css selector", '.crop[data-face="0"]').click()
    different = compare(browser)
    assert different["match"] == "false" and float(different["score"]) < 0.5, different
    assert "No match" in different["text"]
    assert_no_page_errors(browser)


def test_a_photo_searched_in_the_gallery_finds_its_person_with_the_crop(browser, server):
    open_page(browser, server)
    assert css(browser, "#gallery-section")[0].is_displayed()  # /v1/info reports the gallery
    css(browser, "#gallery-file")[0].send_keys(str(photo_path("Rob_Lowe_0002.jpg")))
    wait_for(browser, lambda d: len(css(d, "#gallery-results figure.match")) == 2, "two gallery results")
    best, other = css(browser, "#gallery-results figure.match")
    assert (best.get_attribute("data-label"), best.get_attribute("data-match")) == ("rob", "true")
    assert (other.get_attribute("data-label"), other.get_attribute("data-match")) == ("obama", "false")
    crop = best.find_element("css selector", "img")
    assert browser.execute_script("return arguments[0].naturalWidth", crop) == 112
    assert_no_page_errors(browser)


def test_the_docs_render_every_operation_from_packaged_assets(browser, server):
    browser.get(url(server, "/docs"))
    wait_for(browser, lambda d: len(css(d, ".opblock-summary-path")) >= 2, "Swagger UI's operations")
    paths = {element.get_attribute("data-path") for element in css(browser, ".opblock-summary-path")}
    assert {"/v1/embeddings", "/v1/rerank", "/v1/info"} <= paths
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(name.startswith(url(server, "/")) for name in loaded), loaded
    assert_no_page_errors(browser)
