"""Regenerate docs/dashboard.png, the README's picture of the dashboard.

    .venv/bin/python scripts/screenshot_dashboard.py [--page graph] [--out docs/dashboard.png]

Starts the dashboard on a free local port, profiles the transformer sample at level 2 (and level 0,
so Compare has two runs) in a browser session of headless Chromium (chromium + chromium-driver),
selects the slowest node, and saves a screenshot of the page, reduced to a 256-colour PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time

PAGES = {"home": "/", "graph": "/graph", "timeline": "/timeline", "memory": "/memory", "bottlenecks": "/bottlenecks",
         "compare": "/compare"}
READY = {"home": "#home-runs td", "graph": "#graph-canvas g.node", "timeline": "#timeline-lanes .main-svg",
         "memory": "#memory-curve .main-svg", "bottlenecks": "#bottlenecks-nodes td", "compare": "#compare-speedup"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--page", choices=sorted(PAGES), default="graph")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "dashboard.png"))
    ap.add_argument("--size", default="1360x860", help="browser window WIDTHxHEIGHT (default: %(default)s)")
    args = ap.parse_args()

    import logging

    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.serving import make_server

    from graphscope.app import create_app
    from graphscope.app.app import app_state
    from graphscope.app.runner import RunSettings, start_run

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = create_app()
    state = app_state(app)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    opts = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={args.size.replace('x', ',')}", f"--user-data-dir={tempfile.mkdtemp(prefix='gs-shot-')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts)
    try:
        wait = WebDriverWait(driver, 60)
        driver.get(url)
        wait.until(ec.presence_of_element_located((By.ID, "home-source")))
        session = json.loads(driver.execute_script("return sessionStorage.getItem('app-session');"))
        src = state.source(session, "sample:transformer")
        for level in (0, 2):
            job = state.jobs.wait(session, start_run(state, session, src, RunSettings(level=level, repeat=8, warmup=2)), 300)
            if job is None or job.status != "done":
                print(f"the level-{level} run failed: {job.error if job else 'no job'}", file=sys.stderr)
                return 1
        run = state.latest_run(session, profiled=True)
        driver.execute_script("sessionStorage.setItem('app-node', arguments[0]);",
                              json.dumps({"run": run.id, "node": run.report.nodes[0].id}))
        driver.get(url + PAGES[args.page])
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, READY[args.page])))
        time.sleep(1.0)  # figures finish drawing
        shot = tempfile.mktemp(suffix=".png")
        driver.save_screenshot(shot)
    finally:
        driver.quit()
        server.shutdown()
        state.jobs.shutdown(wait=True)
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with Image.open(shot) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    os.unlink(shot)
    print(f"wrote {out} ({os.path.getsize(out) / 1024:.0f} KiB, page {args.page})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
