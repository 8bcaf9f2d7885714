#!/usr/bin/env bash
# What tests/browser/ needs, installed only where missing (safe to run again): Debian's Chromium (Playwright's own browser
# download does not work offline) and, in the active Python environment, Voilà to serve the notebook and Playwright to drive it.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  else
    echo "tools/browser-setup.sh: no chromium and no apt-get; install Chromium yourself (or set TAMIL_SER_CHROMIUM); the browser test will be skipped" >&2
  fi
fi
python -c 'import voila, playwright.sync_api' 2>/dev/null || python -m pip install -q 'voila>=0.5' 'playwright>=1.40'
command -v chromium >/dev/null 2>&1 && chromium --version 2>/dev/null | head -1 || true
