"""A real headless Chromium for tests: the system browser, driven by the system chromedriver through Selenium.

Nothing is downloaded: Selenium is handed ``/usr/bin/chromedriver`` and
``/usr/bin/chromium`` (the Debian ``chromium`` and ``chromium-driver``
packages; ``.ci/run`` installs them).  Every Selenium call blocks, so a test
runs a browser's steps in a thread (:func:`in_thread`), never on the reactor.
Every wait is bounded.
"""

import os
import shutil
import tempfile
import time

from twisted.internet import threads

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 20.0  # seconds: the longest any single wait may take

try:  # the test extra: pip install '.[test]'
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - reported by missing_requirements()
    webdriver = None


def missing_requirements():
    """Why browser tests cannot run here (None when they can)."""
    if webdriver is None:
        return "selenium is not installed: pip install '.[test]'"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: apt-get install chromium chromium-driver"
    return None


def in_thread(function, *args, **kwargs):
    """Run blocking browser steps in the reactor's thread pool; a Deferred of their result."""
    return threads.deferToThread(function, *args, **kwargs)


def hook(name, /, **attributes):
    """A CSS selector for ``[data-test=name]`` with extra ``data-*`` attributes (``game_id`` is data-game-id)."""
    selector = f'[data-test="{name}"]'
    for key, value in attributes.items():
        selector += f'[data-{key.replace("_", "-")}="{value}"]'
    return selector


class Browser:
    """One headless Chromium window with a fresh profile.

    ``screenshots``: the folder screenshots go to; ``size``: the window's
    (width, height), e.g. a phone's (390, 844).
    """

    def __init__(self, screenshots, size=(1280, 900)):
        self.screenshots = screenshots
        self._profile = tempfile.mkdtemp(prefix="rpsa-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in (
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--disable-features=Translate,MediaRouter,OptimizationHints",
            f"--user-data-dir={self._profile}", f"--window-size={size[0]},{size[1]}",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            self.driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        except Exception:
            shutil.rmtree(self._profile, ignore_errors=True)
            raise
        self.driver.set_page_load_timeout(WAIT)
        self.driver.set_script_timeout(WAIT)
        self.logs = []

    # -- pages and elements ----------------------------------------------------------

    def open(self, url):
        self.driver.get(url)

    def find(self, selector, timeout=WAIT):
        """The first element matching ``selector`` once it exists (bounded wait)."""
        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, selector), timeout,
                         f"no element {selector}")

    def find_all(self, selector):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def visible(self, selector):
        """Whether an element matching ``selector`` is displayed now."""
        return any(e.is_displayed() for e in self.find_all(selector))

    def click(self, selector, timeout=WAIT):
        """Click the first displayed, enabled element matching ``selector`` (bounded wait)."""
        def clickable(driver):
            for element in driver.find_elements(By.CSS_SELECTOR, selector):
                try:
                    if element.is_displayed() and element.is_enabled():
                        element.click()
                        return True
                except StaleElementReferenceException:
                    continue
            return False

        self.wait(clickable, timeout, f"nothing clickable at {selector}")

    def type(self, selector, text):
        element = self.find(selector)
        element.clear()
        element.send_keys(text)

    def attribute(self, selector, name):
        """An attribute of the first element matching ``selector`` (None if there is none)."""
        elements = self.find_all(selector)
        return elements[0].get_attribute(name) if elements else None

    def text(self, selector):
        elements = self.find_all(selector)
        return elements[0].text if elements else None

    def wait_attribute(self, selector, name, values, timeout=WAIT):
        """Wait until the attribute is one of ``values``; returns it."""
        values = (values,) if isinstance(values, str) else tuple(values)

        def check(driver):
            value = self.attribute(selector, name)
            return value if value in values else False

        return self.wait(check, timeout, f"{selector} {name} never became one of {values}")

    def wait(self, condition, timeout=WAIT, message=""):
        """Selenium's bounded wait: ``condition(driver)`` until truthy."""
        return WebDriverWait(self.driver, timeout, poll_frequency=0.05,
                             ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: _quiet(condition, d), message)

    def record_attribute(self, selector, name):
        """From the next page load on, record every value ``name`` takes on ``selector`` (see :meth:`recorded`).

        Injected through the DevTools protocol before the page's own scripts
        run, so that no change is missed, however brief.
        """
        script = f"""
            window.__recorded = [];
            new MutationObserver(() => {{
                const el = document.querySelector({selector!r});
                const value = el && el.getAttribute({name!r});
                if (value !== null && window.__recorded[window.__recorded.length - 1] !== value) {{
                    window.__recorded.push(value);
                }}
            }}).observe(document, {{subtree: true, childList: true, attributes: true}});
        """
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": script})

    def recorded(self):
        """The values recorded since the page loaded (oldest first)."""
        return self.driver.execute_script("return window.__recorded || [];")

    def session_storage(self):
        return self.driver.execute_script("return Object.assign({}, window.sessionStorage);")

    # -- evidence ---------------------------------------------------------------------

    def screenshot(self, name):
        """Save a PNG of the window as ``<screenshots>/<name>.png``; returns its path."""
        os.makedirs(self.screenshots, exist_ok=True)
        path = os.path.join(self.screenshots, f"{name}.png")
        self.driver.save_screenshot(path)
        return path

    def console_errors(self):
        """Every SEVERE entry of the browser's console so far (JavaScript errors, failed loads, CSP reports)."""
        self.logs.extend(self.driver.get_log("browser"))
        return [entry for entry in self.logs if entry["level"] == "SEVERE"]

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)


def _quiet(condition, driver):
    try:
        return condition(driver)
    except (WebDriverException, LookupError):
        return False


def until(predicate, timeout=WAIT, step=0.05):
    """Poll ``predicate()`` (blocking) until truthy, at most ``timeout`` seconds; returns its value or raises."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise TimeoutError(f"not within {timeout} s: {predicate}")
