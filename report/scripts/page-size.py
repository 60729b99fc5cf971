#!/usr/bin/env python3
"""Print the size of sluice report pages and of their signal histograms.

    python3 report/scripts/page-size.py PAGE.html...

For each page: its bytes, the bytes of its <section id="signals"> (the
quality-signal histograms) and how many histograms it draws. Used for the
sizes in report/README.md ("Size").
"""

import sys

if len(sys.argv) < 2:
    sys.exit(__doc__)
for path in sys.argv[1:]:
    page = open(path, "rb").read()
    start = page.find(b'<section id="signals">')
    end = page.find(b"<section", start + 1) if start >= 0 else -1
    signals = page[start:end if end >= 0 else len(page)] if start >= 0 else b""
    hists = page.count(b'<svg class="chart hist"')
    print(f"{path}: {len(page):,} bytes, signals section {len(signals):,} bytes, {hists} histograms")
