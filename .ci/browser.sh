#!/usr/bin/env bash
# Install the browser that tests/notebooks/test_browser.py drives: Debian's chromium, headless,
# through playwright (which comes from pip, in the test extra). Playwright cannot download its own
# browser builds here, so the test points it at /usr/bin/chromium instead.
# Two small fonts come with it, so the screenshot shows what a person's browser shows: the
# course quotes Chinese study notes (fonts-wqy-zenhei) and the animation player's buttons use
# media-control symbols such as U+23EE (fonts-symbola); DejaVu has neither.
# Idempotent: when everything is there this only prints chromium's version.
# Meant for the CI machine (Debian 12, root); elsewhere it uses sudo for apt-get when it has to.
set -euo pipefail

PACKAGES=(chromium fonts-wqy-zenhei fonts-symbola)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for package in "${PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ] || [ ! -x /usr/bin/chromium ]; then
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
fi
echo "browser ready: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
