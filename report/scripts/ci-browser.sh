#!/usr/bin/env bash
# CI: install Debian's Chromium and run the report's browser tests, failing
# (not skipping) if Chromium is missing.
#
#   report/scripts/ci-browser.sh            # from the repository root
#
# The tests block the network themselves (dead proxy, every host unresolved)
# and need no display. Chromium alone is about 100 MB of packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v chromium >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi
SLUICE_REQUIRE_CHROMIUM=1 cargo test --test report_browser -- --nocapture
