#!/usr/bin/env bash
# CI: install Debian's Chromium for the report's browser tests
# (tests/report_browser.rs). In .ci/run, before `cargo test --workspace`:
#
#   bash report/scripts/ci-browser.sh
#   export SLUICE_REQUIRE_CHROMIUM=1     # a missing chromium then fails the tests
#
# `ci-browser.sh --run` also runs those tests on their own.
# The tests block the network themselves (dead proxy, no host resolves) and
# need no display. About 100 MB of packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v chromium >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi
chromium --version
if [ "${1:-}" = "--run" ]; then
    SLUICE_REQUIRE_CHROMIUM=1 cargo test --test report_browser -- --nocapture
fi
