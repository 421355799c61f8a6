"""Fixtures of the dashboard tests: headless Chromium for ``dash_duo``, a private cache, app factories.

Browser tests need Dash's test plugin (``dash[testing]``, in the dev extra) and Debian's chromium +
chromium-driver (``.ci/run`` installs them); without them they are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

pytest.importorskip("dash", reason="the dashboard tests need the 'dashboard' extra: pip install -e '.[dev]'")

HAVE_BROWSER = bool(shutil.which("chromedriver")) and bool(shutil.which("chromium") or shutil.which("google-chrome"))


def pytest_configure(config: pytest.Config) -> None:
    # dash_duo cannot start a browser on a machine without a display unless it runs headless.
    if hasattr(config.option, "headless"):
        config.option.headless = True
    # Known, harmless deprecations of the test tools and of DataTable in Dash 4 (the extra pins dash<5).
    for text in (r"ignore:\s*The dash_table.DataTable will be removed:DeprecationWarning",
                 "ignore:HTTPResponse.getheader:DeprecationWarning"):
        config.addinivalue_line("filterwarnings", text)


def pytest_setup_options():
    """Chromium flags for dash_duo: one Options object (the plugin takes the first hook result)."""
    from selenium.webdriver.chrome.options import Options

    opts = Options()
    for flag in ("--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--disable-extensions", "--window-size=1280,900",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='gs-chromium-')}"):
        opts.add_argument(flag)
    return opts


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Calibration and layout caches never touch the real home during tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRAPHSCOPE_CACHE_DIR", str(tmp_path_factory.mktemp("gs-cache")))
        yield os.environ["GRAPHSCOPE_CACHE_DIR"]


@pytest.fixture
def dash_thread_server():
    """dash_duo's server, stopped gracefully: Dash's own runner stops by raising SystemExit in every thread
    started during the test, which also kills library worker pools (the fused-kernel pool) that later
    tests then wait on forever."""
    with _graceful_runner_class()() as runner:
        yield runner


def _graceful_runner_class():
    import threading

    from dash.testing import wait
    from dash.testing.application_runners import ThreadedRunner
    from werkzeug.serving import make_server

    class GracefulRunner(ThreadedRunner):
        def start(self, app, start_timeout=10, **kwargs):
            self._app = app
            app.scripts.config.serve_locally = True
            app.css.config.serve_locally = True
            self._server = make_server("127.0.0.1", 0, app.server, threaded=True)
            self.port = self._server.server_port
            self.thread = threading.Thread(target=self._server.serve_forever, name="dash-test-server", daemon=True)
            self.thread.start()
            wait.until(lambda: self.accessible(self.url), timeout=start_timeout)
            self.started = True

        def stop(self):
            self._server.shutdown()
            self._server.server_close()
            self.thread.join(timeout=10)
            self._app = None

    return GracefulRunner


@pytest.fixture
def browser_ok():
    if not HAVE_BROWSER:
        pytest.skip("Chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)")
