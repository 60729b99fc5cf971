#!/usr/bin/env python3
"""Screenshot one section of a sluice report in headless Chromium.

    python3 report/scripts/screenshot.py REPORT.html OUT.png WIDTH [SELECTOR [MAX_HEIGHT]]

Lays the page out in a window WIDTH px wide and saves the part from the top
of the first element matching the CSS SELECTOR (`#signals`, `#dropped
h3:nth-of-type(3)`; default: the page's top) down, at most MAX_HEIGHT px
(default 1600). Chromium's `--screenshot` flag can only take
the top of a page, so this drives Chromium over the DevTools protocol
(`--remote-debugging-pipe`, Python's standard library only). The network is
blocked as in tests/report_browser.rs. The report itself runs no script;
the protocol's `Runtime.evaluate` only measures where the section is.

Used to make report/docs/*.png (see report/README.md).
"""

import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    page, out, width = os.path.abspath(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    section = sys.argv[4] if len(sys.argv) > 4 else None
    max_h = int(sys.argv[5]) if len(sys.argv) > 5 else 1600
    chrome = os.environ.get("SLUICE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chrome:
        sys.exit("chromium not found (bash report/scripts/ci-browser.sh installs it)")
    profile = tempfile.mkdtemp()
    # fds 3 (Chromium reads) and 4 (Chromium writes): the protocol pipe.
    # The child's ends are first moved above 10 so the dup2s cannot clobber
    # one another.
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    hi_r, hi_w = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    to_chrome_r, from_chrome_w = hi_r, hi_w

    def child_fds():
        os.dup2(to_chrome_r, 3)
        os.dup2(from_chrome_w, 4)
        os.set_inheritable(3, True)
        os.set_inheritable(4, True)

    proc = subprocess.Popen(
        [
            chrome,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-extensions",
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            f"--window-size={width},1000",
            "about:blank",
        ],
        preexec_fn=child_fds,
        close_fds=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    w = os.fdopen(to_chrome_w, "wb")
    r = os.fdopen(from_chrome_r, "rb")
    buf = b""
    ids = iter(range(1, 1 << 30))

    def send(method, params=None, session=None):
        nonlocal buf
        i = next(ids)
        msg = {"id": i, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        w.write(json.dumps(msg).encode() + b"\0")
        w.flush()
        while True:
            while b"\0" not in buf:
                chunk = r.read1(1 << 16)
                if not chunk:
                    raise SystemExit("chromium closed the pipe")
                buf += chunk
            raw, buf = buf.split(b"\0", 1)
            m = json.loads(raw)
            if m.get("id") == i:
                if "error" in m:
                    raise SystemExit(f"{method}: {m['error']}")
                return m["result"]

    try:
        target = send("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        send("Emulation.setDeviceMetricsOverride", {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False}, s)
        send("Page.enable", {}, s)
        send("Page.navigate", {"url": "file://" + page}, s)
        # Wait until the page has loaded and laid out.
        for _ in range(200):
            st = send("Runtime.evaluate", {"expression": "document.readyState", "returnByValue": True}, s)
            if st["result"].get("value") == "complete":
                break
            subprocess.run(["sleep", "0.05"])
        expr = (
            "(() => { const e = %s; const r = e.getBoundingClientRect();"
            " return [r.top + window.scrollY, document.documentElement.scrollHeight,"
            " document.documentElement.scrollWidth]; })()"
            % (f"document.querySelector({json.dumps(section)})" if section else "document.body")
        )
        top, total, page_w = send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, s)["result"]["value"]
        top = max(0, top - 8) if section else 0
        height = min(max_h, total - top)
        # Every label of every histogram inside its chart, and no two
        # labels of a chart overlapping, as Chromium laid them out.
        check = """(() => {
          let charts = 0, outside = [], overlap = [];
          for (const svg of document.querySelectorAll('svg.chart.hist, svg.chart.classifier')) {
            charts++;
            const vb = svg.viewBox.baseVal;
            const boxes = [];
            for (const t of svg.querySelectorAll('text')) {
              const b = t.getBBox();
              const r = t.transform.baseVal.numberOfItems ? null : b;
              if (b.x < -0.5 || b.y < -0.5 || b.x + b.width > vb.width + 0.5 || b.y + b.height > vb.height + 0.5) {
                if (!r) { const c = t.getCTM(); if (c && c.b !== 0) { if (b.width <= vb.height && b.height <= vb.width) continue; } }
                outside.push(t.textContent.slice(0, 60));
              }
              if (r) boxes.push([r, t.textContent.slice(0, 40)]);
            }
            for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
              const [a, an] = boxes[i], [b, bn] = boxes[j];
              if (a.x < b.x + b.width - 0.5 && b.x < a.x + a.width - 0.5 && a.y < b.y + b.height - 0.5 && b.y < a.y + a.height - 0.5)
                overlap.push(an + ' / ' + bn);
            }
          }
          return [charts, outside.slice(0, 5), outside.length, overlap.slice(0, 5), overlap.length];
        })()"""
        charts, outside, n_out, overlap, n_over = send("Runtime.evaluate", {"expression": check, "returnByValue": True}, s)["result"]["value"]
        print(f"{charts} histograms: {n_out} labels outside their chart {outside}, {n_over} overlapping pairs {overlap}")
        shot = send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": top, "width": width, "height": height, "scale": 1}},
            s,
        )
        with open(out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(f"{out}: {width}x{height} px from y={top:.0f} of {total} ({os.path.getsize(out)} bytes)")
        if page_w > width:
            print(f"note: the page is {page_w} px wide, wider than the window ({width} px): it scrolls sideways")
    finally:
        try:
            send("Browser.close")
        except SystemExit:
            pass
        proc.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
