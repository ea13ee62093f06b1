#!/usr/bin/env bash
# Vendor the dashboard's JavaScript from the npm registry, at the pinned versions below,
# with each package's licence: htmx and uPlot (served by the daemon, package data), and
# axe-core (injected by the browser tests only, never served). There is no build step:
# the files are committed as npm publishes them. To update, change a version here, run
# `scripts/vendor-js.sh`, run the dashboard's browser tests and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."

HTMX=2.0.11     # htmx.org: live refresh and actions from HTML attributes (no inline script)
UPLOT=1.6.32    # uplot: the throughput chart, ~50 kB
AXE=4.14.1      # axe-core: the accessibility check of tests/web/test_dashboard.py

static=runner/jobrunner/web/pages/static/vendor
tests=tests/web/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {  # fetch PACKAGE VERSION: the tarball unpacked under $work/PACKAGE
  (cd "$work" && npm pack --silent "$1@$2" >/dev/null)  # npm checks the registry's integrity hash
  mkdir -p "$work/$1"
  tar xzf "$work/$1-$2.tgz" -C "$work/$1" --strip-components=1
}

fetch htmx.org "$HTMX"
fetch uplot "$UPLOT"
fetch axe-core "$AXE"

mkdir -p "$static" "$tests"
install -m 644 "$work/htmx.org/dist/htmx.min.js" "$static/htmx.min.js"
install -m 644 "$work/htmx.org/LICENSE" "$static/htmx.LICENSE"
install -m 644 "$work/uplot/dist/uPlot.iife.min.js" "$static/uPlot.iife.min.js"
install -m 644 "$work/uplot/dist/uPlot.min.css" "$static/uPlot.min.css"
install -m 644 "$work/uplot/LICENSE" "$static/uPlot.LICENSE"
install -m 644 "$work/axe-core/axe.min.js" "$tests/axe.min.js"
install -m 644 "$work/axe-core/LICENSE" "$tests/axe-core.LICENSE"
printf 'htmx.org %s\nuplot %s\n' "$HTMX" "$UPLOT" >"$static/VERSIONS"
printf 'axe-core %s\n' "$AXE" >"$tests/VERSIONS"
echo "vendored htmx.org $HTMX, uplot $UPLOT (into $static) and axe-core $AXE (into $tests)"
