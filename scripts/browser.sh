#!/usr/bin/env bash
# Make sure Debian's headless Chromium and its driver are installed, for tests/test_browser.py.
# Idempotent: does nothing when both are present. Never downloads a browser build from anywhere but apt;
# fonts-dejavu-core comes along so screenshots have text on a minimal image.
# Prints the Chromium path on success (on stdout, alone: apt's progress goes to stderr).
set -euo pipefail

CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver

if [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]]; then
    echo "$CHROMIUM"
    exit 0
fi

# sudo only when we are not root (CI and containers usually are).
SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "scripts/browser.sh: Chromium is missing and installing it needs root; run this script as root or install sudo" >&2
        exit 1
    fi
    SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0)

# Refresh the package lists only when apt does not know the packages yet (a fresh image has empty lists).
if ! apt-cache show chromium chromium-driver >/dev/null 2>&1; then
    "${APT[@]}" update >&2
fi
PACKAGES=(chromium chromium-driver fonts-dejavu-core)
# Lists that are present but stale point at files the mirror no longer has: refresh them once and retry.
if ! "${APT[@]}" install --no-install-recommends "${PACKAGES[@]}" >&2; then
    "${APT[@]}" update >&2
    "${APT[@]}" install --no-install-recommends "${PACKAGES[@]}" >&2
fi

for binary in "$CHROMIUM" "$CHROMEDRIVER"; do
    if [[ ! -x "$binary" ]]; then
        echo "scripts/browser.sh: $binary is still missing after installing chromium and chromium-driver" >&2
        exit 1
    fi
done
echo "$CHROMIUM"
