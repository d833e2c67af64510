"""The dashboard in a real browser (Debian's headless Chromium) against a real serve."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from dockyard.engine import loopdisk
from dockyard.engine.docker import DockerEngine
from dockyard.engine.loopdisk import LoopDisk
from tests.api.conftest import ADMIN, Server, start_server, stop_server
from tests.engine_fixtures import remove_installation

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

Browser = Callable[[], webdriver.Chrome]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """Fresh headless Chromium sessions (each its own profile, so its own tab storage)."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("the dashboard tests need chromium and chromium-driver (scripts/setup)")
    drivers: list[webdriver.Chrome] = []

    def launch() -> webdriver.Chrome:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        profile = tmp_path / f"profile-{len(drivers)}"
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
        ):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        drivers.append(driver)
        return driver

    yield launch
    for driver in drivers:
        driver.quit()


def sign_in(driver: webdriver.Chrome, server: Server, token: str) -> None:
    driver.get(server.url + "/")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait(driver, lambda d: d.find_element(By.ID, "main").is_displayed(), "the dashboard")


def wait(
    driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], object], what: str
) -> None:
    WebDriverWait(
        driver, 10, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException]
    ).until(condition, message=f"waiting for {what}")


def row(driver: webdriver.Chrome, key: str) -> WebElement:
    return driver.find_element(By.CSS_SELECTOR, f'tr[data-key="{key}"]')


def keys(driver: webdriver.Chrome) -> list[str]:
    """The rows' keys, read in one script (the table re-renders under live events)."""
    found = driver.execute_script(
        "return [...document.querySelectorAll('#workspaces tbody tr')].map(r => r.dataset.key)"
    )
    return sorted(str(k) for k in found)


def feed(driver: webdriver.Chrome) -> list[str]:
    """The event types in the live feed, read in one script."""
    found = driver.execute_script(
        "return [...document.querySelectorAll('#events li')].map(li => li.dataset.type)"
    )
    return [str(t) for t in found]


def test_dashboard_lists_extends_parks_and_respects_owners(
    server: Server, browser: Browser
) -> None:
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "alice-app", "owner": "alice"})
        api.post("/api/v1/workspaces", json={"key": "bob-api", "owner": "bob"})

    admin = browser()
    sign_in(admin, server, ADMIN)
    wait(admin, lambda d: keys(d) == ["alice-app", "bob-api"], "both workspaces")
    wait(admin, lambda d: "live" in d.find_element(By.ID, "live").text, "the live feed")
    OUTPUT.mkdir(exist_ok=True)
    admin.save_screenshot(str(OUTPUT / "dashboard.png"))
    assert admin.execute_script("return document.documentElement.scrollWidth") <= 1280

    alice = row(admin, "alice-app")
    before = alice.find_element(By.CSS_SELECTOR, ".deadline").text
    alice.find_element(By.CSS_SELECTOR, '[data-act="extend"]').click()
    wait(
        admin,
        lambda d: row(d, "alice-app").find_element(By.CSS_SELECTOR, ".deadline").text != before,
        "the deadline to move",
    )

    row(admin, "alice-app").find_element(By.CSS_SELECTOR, '[data-act="park"]').click()
    wait(
        admin,
        lambda d: row(d, "alice-app").find_element(By.CSS_SELECTOR, ".state").text == "parked",
        "alice-app to show parked",
    )

    wait(admin, lambda d: "workspace.parked" in feed(d), "the parked event in the feed")
    assert "workspace.extended" in feed(admin)

    bob = row(admin, "bob-api")
    bob.find_element(By.CSS_SELECTOR, '[data-act="remove"]').click()
    assert "bob-api" in admin.find_element(By.ID, "confirm-text").text
    admin.find_element(By.ID, "confirm-ok").click()
    wait(admin, lambda d: keys(d) == ["alice-app"], "bob-api to go")

    own = browser()
    sign_in(own, server, server.token("alice"))
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "bob-other", "owner": "bob"})
    wait(own, lambda d: keys(d) == ["alice-app"], "alice's workspaces only")
    assert own.find_element(By.ID, "reconciler").is_displayed() is False
    assert "owner alice" in own.find_element(By.ID, "who").text


def test_api_errors_are_shown_in_the_page(server: Server, browser: Browser) -> None:
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "busy", "owner": "carol"})
        api.post("/api/v1/workspaces/busy/sessions", json={"kind": "agent"})
    driver = browser()
    sign_in(driver, server, ADMIN)
    wait(driver, lambda d: keys(d) == ["busy"], "the workspace")
    row(driver, "busy").find_element(By.CSS_SELECTOR, '[data-act="park"]').click()
    wait(driver, lambda d: d.find_element(By.ID, "alert").is_displayed(), "the error")
    assert "in use" in driver.find_element(By.ID, "alert").text
    assert row(driver, "busy").find_element(By.CSS_SELECTOR, ".state").text == "running"


def screen(driver: webdriver.Chrome) -> str:
    """What the terminal shows (xterm.js draws its rows as text in the page)."""
    text: str = driver.execute_script(
        "const rows = document.querySelector('#term .xterm-rows');"
        "return rows ? [...rows.children].map(r => r.textContent).join('\\n') : ''"
    )
    return text


def type_in_terminal(driver: webdriver.Chrome, text: str) -> None:
    driver.find_element(By.CSS_SELECTOR, "#term .xterm-helper-textarea").send_keys(text)


def test_a_terminal_in_the_dashboard_survives_a_reload(server: Server, browser: Browser) -> None:
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "term-ws"})
    page = browser()
    sign_in(page, server, ADMIN)
    wait(page, lambda d: keys(d) == ["term-ws"], "the workspace")
    row(page, "term-ws").find_element(By.CSS_SELECTOR, '[data-act="terminal"]').click()
    wait(page, lambda d: "attached" in d.find_element(By.ID, "term-status").text, "the attach")
    type_in_terminal(page, "echo $((6*7))\n")
    wait(page, lambda d: "\n42" in screen(d), "42 in the terminal")
    type_in_terminal(page, "echo pid=$$.\n")
    wait(page, lambda d: re.search(r"pid=(\d+)\.", screen(d)), "the shell's pid")
    found = re.search(r"pid=(\d+)\.", screen(page))
    assert found is not None
    OUTPUT.mkdir(exist_ok=True)
    page.save_screenshot(str(OUTPUT / "dashboard-terminal.png"))

    page.refresh()
    wait(
        page,
        lambda d: "reattached" in d.find_element(By.ID, "term-status").text,
        "the terminal to reattach after the reload",
    )
    assert "the same shell" in page.find_element(By.ID, "term-status").text
    type_in_terminal(page, "echo same=$$.\n")
    wait(page, lambda d: re.search(r"same=(\d+)\.", screen(d)), "the same shell to answer")
    again = re.search(r"same=(\d+)\.", screen(page))
    assert again is not None and again.group(1) == found.group(1)

    type_in_terminal(page, "echo size=$(stty size).\n")
    wait(page, lambda d: re.search(r"size=\d+ \d+\.", screen(d)), "the terminal's size")
    wide = re.findall(r"size=(\d+ \d+)\.", screen(page))[-1]
    page.set_window_size(800, 700)
    type_in_terminal(page, "clear; echo size=$(stty size).\n")
    wait(
        page,
        lambda d: re.findall(r"size=(\d+ \d+)\.", screen(d))[-1:] not in ([], [wide]),
        "a resize",
    )
    with server.client() as api:
        [live] = api.get("/api/v1/workspaces/term-ws/sessions").json()["sessions"]
    assert (live["kind"], live["status"]) == ("shell", "active")
    page.find_element(By.ID, "term-close").click()
    wait(page, lambda d: not d.find_element(By.ID, "terminal-panel").is_displayed(), "closed")
    with server.client() as api:
        # The panel hides at once; the page's DELETE of the session follows it.
        wait(
            page,
            lambda _: api.get(f"/api/v1/sessions/{live['id']}").json()["closed_reason"],
            "the session's close",
        )
        ended = api.get(f"/api/v1/sessions/{live['id']}").json()
    assert (ended["status"], ended["closed_reason"]) == ("dead", "closed")


@pytest.fixture
def pool_server(tmp_path: Path, docker: DockerEngine) -> Iterator[Server]:
    """A serve with a warm pool of one (stopped after the browsers: their event streams
    would hold its shutdown)."""
    server = start_server(tmp_path, extra_config="[pool]\nsize = 1\n")
    yield server
    stop_server(server)
    remove_installation(docker, server.installation)


def test_the_warm_pool_is_shown_for_what_it_is(pool_server: Server, browser: Browser) -> None:
    server = pool_server
    with server.client() as api:
        ready = poll(lambda: api.get("/api/v1/stats").json()["pool"]["ready"], "a member")
        member = ready[0]["name"]
        metrics = api.get("/metrics").text
        assert 'dockyard_pool_ready{image="dockyard/workspace:latest"} 1.0' in metrics
    driver = browser()
    sign_in(driver, server, ADMIN)
    wait(driver, lambda d: d.find_element(By.ID, "pool").is_displayed(), "the pool's figure")
    assert driver.find_element(By.ID, "pool-ready").text == "1"
    assert driver.find_element(By.ID, "pool-of").text == "of 1 ready"
    assert member in (driver.find_element(By.ID, "pool").get_attribute("title") or "")
    assert keys(driver) == []  # a ready member is no workspace
    with server.client() as api:
        made = api.post("/api/v1/workspaces", json={"key": "from-pool", "owner": "ann"})
        assert made.status_code == 201, made.text
        taken = api.get("/api/v1/events", params={"workspace": "from-pool"}).json()["events"]
        created = [e for e in taken if e["type"] == "workspace.created"]
        assert created[0]["data"]["pool"] == member
        poll(  # the reconciler makes the next one
            lambda: [
                m for m in api.get("/api/v1/stats").json()["pool"]["ready"] if m["name"] != member
            ],
            "a new member",
        )
    wait(driver, lambda d: keys(d) == ["from-pool"], "the workspace")


def poll(found: Callable[[], list[Any]], what: str, timeout_s: float = 30) -> list[Any]:
    """``found()`` once it is not empty (the server's reconciler works in the background)."""
    deadline = time.monotonic() + timeout_s
    while not (result := found()):
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout_s}s")
        time.sleep(0.1)
    return result


def test_the_dashboard_shows_each_workspaces_disk_use(server: Server, browser: Browser) -> None:
    with server.client() as api:
        api.post("/api/v1/workspaces", json={"key": "filled", "owner": "dana"})
        done = api.post(
            "/api/v1/workspaces/filled/exec",
            json={"command": ["dd", "if=/dev/zero", "of=/workspace/blob", "bs=1M", "count=6"]},
        )
        assert done.json()["exit_code"] == 0
    driver = browser()
    sign_in(driver, server, ADMIN)
    wait(driver, lambda d: keys(d) == ["filled"], "the workspace")

    def disk(d: webdriver.Chrome) -> str:
        return str(row(d, "filled").find_element(By.CSS_SELECTOR, ".disk").text)

    wait(driver, lambda d: disk(d).endswith("MiB"), "its disk use")
    assert float(disk(driver).removeprefix(">").removesuffix("MiB")) >= 6
    title = row(driver, "filled").find_element(By.CSS_SELECTOR, ".disk").get_attribute("title")
    assert title is not None and title.startswith("volume 6") and "writable layer" in title


def test_the_dashboard_shows_a_capped_volume_and_how_full_it_is(
    server: Server, browser: Browser
) -> None:
    disks = server.data / "disks"
    try:
        with server.client() as api:
            made = api.post("/api/v1/workspaces", json={"key": "cap", "resources": {"disk": "32m"}})
            assert made.status_code == 201, made.text
            fill = ["dd", "if=/dev/zero", "of=/workspace/blob", "bs=1M", "count=100"]
            api.post("/api/v1/workspaces/cap/exec", json={"command": fill})  # refused when full
        driver = browser()
        sign_in(driver, server, ADMIN)
        wait(driver, lambda d: keys(d) == ["cap"], "the workspace")

        def cell(d: webdriver.Chrome) -> WebElement:
            return row(d, "cap").find_element(By.CSS_SELECTOR, ".disk")

        wait(driver, lambda d: "% full" in (cell(d).get_attribute("title") or ""), "the cap")
        title = cell(driver).get_attribute("title") or ""
        assert re.match(r"volume \S+ of 32MiB \((9\d|100)(\.\d)?% full\), writable layer", title)
        assert "full" in (cell(driver).get_attribute("class") or "").split()  # shown in red
        with server.client() as api:
            gone = api.delete("/api/v1/workspaces/cap", params={"purge": True})
            assert gone.status_code == 200
        assert list(disks.glob("*.img")) == []
    finally:  # whatever failed: no loop device or disk file of this test stays behind
        for image in disks.glob("*.img"):
            with server.client() as api:
                api.delete("/api/v1/workspaces/cap", params={"purge": True, "force": True})
            loopdisk.delete(LoopDisk.at_link(str(image.with_suffix(".dev"))))
