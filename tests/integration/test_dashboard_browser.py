"""The QA dashboard in a real browser: headless Chromium (Debian ``chromium`` + ``chromium-driver``) driven
by Selenium, against the hotline's web app on a seeded call store, served on a local port.

Screenshots of the overview and a call page go to ``$HOTLINE_SCREENSHOT_DIR`` when set (``docs/`` holds
the ones the README shows), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from tests.seed_calls import dashboard_app
from voice.storage.schema import audit_log, calls

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
    if os.environ.get("CI"):  # CI must run the browser tests, never pass by skipping them
        raise RuntimeError("chromium and chromium-driver are missing (make browser-deps installs them)")
    pytest.skip("needs Debian's chromium and chromium-driver (make test installs them)", allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[dict]:
    from werkzeug.serving import make_server

    folder = tmp_path_factory.mktemp("dashboard")
    app, store, seeded = dashboard_app(folder)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "store": store, "seeded": seeded, "folder": folder}
    server.shutdown()


@pytest.fixture(scope="module")
def browser(site) -> Iterator[object]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1366,900", "--lang=en"):
        options.add_argument(arg)
    downloads = site["folder"] / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    driver.implicitly_wait(2)
    driver.downloads = downloads
    yield driver
    driver.quit()


def screenshot_dir(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("HOTLINE_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_in(driver, url: str, name: str, password: str) -> None:
    driver.get(f"{url}/dashboard/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form.login button[type=submit]").click()
    WebDriverWait(driver, 5).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "header.top")))


def log_out(driver) -> None:
    driver.find_element(By.CSS_SELECTOR, "header.top .who button").click()
    WebDriverWait(driver, 5).until(expected_conditions.presence_of_element_located((By.ID, "password")))


def test_an_anonymous_visitor_is_sent_to_the_login_page(site, browser):
    browser.delete_all_cookies()
    browser.get(f"{site['url']}/dashboard/calls")
    assert "/dashboard/login" in browser.current_url
    assert browser.find_elements(By.ID, "password")
    assert not browser.find_elements(By.ID, "calls")


def test_an_editor_filters_calls_listens_marks_a_translation_reviewed_and_exports(site, browser, tmp_path):
    url, seeded, engine = site["url"], site["seeded"], site["store"].engine
    shots = screenshot_dir(tmp_path)
    log_in(browser, f"{url}", "erika", "erikaerika!")
    assert browser.find_element(By.ID, "total-calls").text == str(len(seeded.call_ids))
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) == 4
    browser.set_window_size(1366, 1350)
    browser.save_screenshot(str(shots / "dashboard-overview.png"))

    # filter: Turkish calls that went to a person
    browser.find_element(By.LINK_TEXT, "Calls").click()
    Select(browser.find_element(By.NAME, "language")).select_by_value("tr")
    Select(browser.find_element(By.NAME, "handover")).select_by_value("no")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    WebDriverWait(browser, 5).until(expected_conditions.url_contains("language=tr"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#calls tbody tr")
    with engine.connect() as conn:
        expected = conn.execute(select(calls.c.id).where(calls.c.language == "tr", calls.c.handovers == 0)).all()
    assert len(rows) == len(expected) > 0
    assert all(row.find_elements(By.TAG_NAME, "td")[2].text == "tr" for row in rows)
    assert "language=tr" in browser.find_element(By.ID, "export-csv").get_attribute("href")

    # open the first call and play the caller's question
    rows[0].find_element(By.CSS_SELECTOR, "td a").click()
    first = browser.find_element(By.CSS_SELECTOR, ".turn")
    assert first.find_element(By.CSS_SELECTOR, ".transcript").text
    audio = first.find_element(By.CSS_SELECTOR, "audio.caller-audio")
    played = browser.execute_async_script(
        "const [a, done] = arguments; a.addEventListener('playing', () => done(true), {once: true});"
        "a.addEventListener('error', () => done('error ' + (a.error && a.error.code)), {once: true});"
        "a.play().catch(e => done(String(e)));",
        audio,
    )
    assert played is True
    WebDriverWait(browser, 5).until(lambda d: d.execute_script("return arguments[0].currentTime", audio) > 0)
    call_id = browser.current_url.rsplit("/", 1)[-1]
    with engine.connect() as conn:
        heard = conn.execute(
            select(audit_log).where(audit_log.c.call_id == call_id, audit_log.c.action == "listen")
        ).mappings().all()
    assert [(h["user_name"], h["turn"]) for h in heard] == [("erika", 1)]
    browser.execute_script("arguments[0].pause()", audio)
    browser.set_window_size(1366, 1500)
    browser.save_screenshot(str(shots / "dashboard-call.png"))
    browser.set_window_size(1366, 900)

    # the English answer of an entry, marked reviewed in the knowledge-base file
    browser.get(f"{url}/dashboard/kb/adresse-aendern")
    row = browser.find_element(By.ID, "lang-en")
    assert row.find_element(By.CSS_SELECTOR, ".review-state").text == "not reviewed"
    row.find_element(By.CSS_SELECTOR, "button.review-toggle").click()
    WebDriverWait(browser, 5).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".flash.ok")))
    assert browser.find_element(By.CSS_SELECTOR, "#lang-en .review-state").text == "reviewed"
    assert "now marked reviewed" in browser.find_element(By.CSS_SELECTOR, ".flash.ok").text
    entry = yaml.safe_load((site["folder"] / "prompts/faq/adresse-aendern.yaml").read_text(encoding="utf-8"))
    assert entry["answer"]["en"]["reviewed"] is True and entry["answer"]["tr"]["reviewed"] is False

    # export what the calls page shows
    browser.get(f"{url}/dashboard/calls?language=tr")
    browser.find_element(By.ID, "export-csv").click()
    deadline = time.monotonic() + 10
    while not list(browser.downloads.glob("*.csv")) and time.monotonic() < deadline:
        time.sleep(0.1)
    (csv_file,) = browser.downloads.glob("*.csv")
    lines = csv_file.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("call_id,started_at,")
    assert len(lines) > 1 and all(",tr," in line for line in lines[1:])
    log_out(browser)


def test_a_viewer_reads_but_cannot_edit(site, browser):
    url = site["url"]
    log_in(browser, url, "victor", "victorvictor!")
    browser.get(f"{url}/dashboard/kb/adresse-aendern")
    assert browser.find_element(By.CSS_SELECTOR, "#lang-tr .review-state").text == "not reviewed"
    assert not browser.find_elements(By.CSS_SELECTOR, "button.review-toggle")
    assert not browser.find_elements(By.LINK_TEXT, "Audit log")
    # even a hand-made request with a valid form token is refused
    status = browser.execute_async_script(
        "const done = arguments[0]; const body = new FormData();"
        "body.append('csrf_token', document.querySelector('input[name=csrf_token]').value);"
        "body.append('reviewed', 'true');"
        "fetch('/dashboard/kb/adresse-aendern/tr/reviewed', {method: 'POST', body}).then(r => done(r.status));"
    )
    assert status == 403
    entry = yaml.safe_load((site["folder"] / "prompts/faq/adresse-aendern.yaml").read_text(encoding="utf-8"))
    assert entry["answer"]["tr"]["reviewed"] is False
    log_out(browser)
