"""Headless Chromium from Debian (packages chromium, chromium-driver, python3-selenium),
driven through Selenium, for the status page's end-to-end tests.

Selenium comes from Debian's python3-selenium, which installs into the system Python's
dist-packages; when the tests run under another Python 3 (a pyenv interpreter picked up
by CMake), that folder is added to the path, since the package is pure Python.
"""
import base64
import os
import sys

try:
    import selenium  # noqa: F401
except ImportError:
    sys.path.append("/usr/lib/python3/dist-packages")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402, F401 (re-exported for the tests)

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"


class Browser:
    """One headless Chromium; `stop()` quits it (a Cleanup part)."""

    def __init__(self, width=1280, height=1000):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        options.add_argument("--headless=new")
        # Root in CI has no user namespace sandbox; /dev/shm may be small in containers.
        options.add_argument("--no-sandbox")
        options.add_argument("--disable-dev-shm-usage")
        options.add_argument("--disable-gpu")
        options.add_argument(f"--window-size={width},{height}")
        # No JavaScript at all: the page must work without it (issue 16).
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)

    def get(self, url):
        self.driver.get(url)
        return self.driver

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def screenshot(self, path):
        """A PNG of the whole page, beyond the window's height (Chromium's DevTools
        Page.captureScreenshot: no script runs in the page for it)."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot",
                                           {"format": "png", "captureBeyondViewport": True})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return path

    def stop(self):
        self.driver.quit()
