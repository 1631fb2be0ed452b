"""Browser tests: a real portal (`manage.py runportal`, the embedded default in its own data
directory) driven by Playwright in Debian's Chromium. Only the processes started here are
stopped, by PID."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
DEMO_PASSWORD = "browser-demo-pass"
START_TIMEOUT_S = 60


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url, process, log):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the portal exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the portal did not answer within {START_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


def portal_environment(data, **extra):
    """A portal's environment: its own data directory (SQLite database, secret key)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(NUBES_DATA_DIR=str(data), NUBES_DEMO_PASSWORD=DEMO_PASSWORD, PYTHONUNBUFFERED="1", **extra)
    return env


@pytest.fixture(scope="session")
def portal_env(tmp_path_factory):
    """The browser portal's environment (the embedded default)."""
    return portal_environment(tmp_path_factory.mktemp("portal"))


@pytest.fixture(scope="session")
def portal_shell(portal_url, portal_env):
    """Runs Python in `manage.py shell` on the running portal's database; returns what it printed.
    For rows the UI cannot make here (e.g. a host that is not simulated)."""
    return lambda code: run_shell(portal_env, code)


def run_shell(env, code):
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-v", "0", "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="session")
def portal_url(portal_env):
    yield from serve_portal(portal_env)


def serve_portal(env):
    """Migrate, seed and run a portal in `env`; yields its URL and stops it (by its PID) after."""
    process, url = start_portal(env)
    try:
        yield url
    finally:
        stop(process)


def start_portal(env, seed=True):
    """`make run`'s commands in `env` (migrate, seed_demo, runportal on a free port): returns the
    runportal process, answering, and its URL. The seed's output goes to seed.log, the portal's to
    portal.log (appended: a second start on the same data directory keeps the first's)."""
    data = Path(env["NUBES_DATA_DIR"])
    manage = [sys.executable, str(ROOT / "manage.py")]
    if seed:
        subprocess.run(manage + ["migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
        with (data / "seed.log").open("a") as out:
            subprocess.run(manage + ["seed_demo", "--if-no-real-hosts"], env=env, check=True, cwd=ROOT, stdout=out)
    port = free_port()
    log = data / "portal.log"
    with log.open("a") as out:
        process = subprocess.Popen(
            manage + ["runportal", "--port", str(port)], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log)
    except BaseException:
        stop(process)
        raise
    return process, url


def stop(process):
    """End a server this test run started (by its PID): politely, then for sure."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# Module scope, not session: Playwright's sync API keeps its asyncio loop "running" on the main
# thread while it is open, and Django then refuses database calls from later non-browser tests
# (pytest-django runs the db-less tests, browser ones included, in one group at the end).
@pytest.fixture(scope="module")
def chromium():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, portal_url):
    context = chromium.new_context(base_url=portal_url)
    refused = watch_csp(context)
    page = context.new_page()
    page.set_default_timeout(20000)
    yield page
    context.close()
    assert not refused, f"the Content-Security-Policy refused: {refused}"


def watch_csp(context):
    """What the portal's Content-Security-Policy made Chromium refuse on any page of `context`
    (an inline script, eval, a foreign origin): every test using `page` fails on one."""
    refused = []
    # Chromium's console line does not say where; the violation event does (file:line:column).
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.log("
        "'Content Security Policy: ' + e.violatedDirective + ' at ' + e.sourceFile + ':' + e.lineNumber"
        " + ':' + e.columnNumber + ' ' + e.sample))"
    )
    context.on("console", lambda msg: "Content Security Policy" in msg.text and refused.append(msg.text))
    return refused


def sign_in(page, username, password=DEMO_PASSWORD):
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Dashboard')")
    return page


@pytest.fixture
def login(page):
    return lambda username, password=DEMO_PASSWORD: sign_in(page, username, password)
