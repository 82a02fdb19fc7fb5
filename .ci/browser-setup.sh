#!/usr/bin/env bash
# Installs what tests/e2e/test_browser.py needs: Debian's Chromium and the Python `playwright` package.
# Idempotent and non-interactive; one line per action. Usage: .ci/browser-setup.sh [VENV]
# Playwright's own browser download cannot work here: never run `playwright install`;
# the test drives /usr/bin/chromium through `executable_path`.
set -euo pipefail

VENV="${1:-.venv}"
PLAYWRIGHT_PIN="playwright==1.65.2"
CHROMIUM=/usr/bin/chromium
PY="$VENV/bin/python"

if [ -x "$CHROMIUM" ]; then
    echo "browser-setup: chromium present ($CHROMIUM)"
else
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo -n"  # CI runs as root; elsewhere this fails clearly instead of prompting
    fi
    echo "browser-setup: chromium missing; running apt-get update"
    $SUDO apt-get update -qq
    echo "browser-setup: installing chromium with apt-get"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium >/dev/null
    test -x "$CHROMIUM" || { echo "browser-setup: $CHROMIUM still missing after install" >&2; exit 1; }
    echo "browser-setup: chromium installed ($("$CHROMIUM" --version 2>/dev/null || echo "version unknown"))"
fi

if [ ! -x "$PY" ]; then
    echo "browser-setup: no Python at $PY (run 'make setup' first)" >&2
    exit 1
fi
WANT="${PLAYWRIGHT_PIN#*==}"
HAVE="$("$PY" -c 'import importlib.metadata as m; print(m.version("playwright"))' 2>/dev/null || true)"
if [ "$HAVE" = "$WANT" ]; then
    echo "browser-setup: $PLAYWRIGHT_PIN present in $VENV"
else
    echo "browser-setup: installing $PLAYWRIGHT_PIN into $VENV (had: ${HAVE:-none})"
    "$PY" -m pip install --quiet "$PLAYWRIGHT_PIN"
fi
