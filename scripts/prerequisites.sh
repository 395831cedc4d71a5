#!/usr/bin/env bash
# Installs the Debian packages gunicorn-net needs: to build its native executables (clang, zlib1g-dev) and to run
# Python apps (python3 and its shared library). With "tests", also what the test suite drives.
set -euo pipefail
packages=(clang zlib1g-dev python3 libpython3.11)
lean=()
if [ "${1:-}" = "tests" ]; then
  # gunicorn is the reference the access-log test compares against; curl and h2load (nghttp2-client) drive the TLS
  # and HTTP/2 acceptance tests; Flask and Django are the sample apps, FastAPI the ASGI one; systemd's systemd-analyze verifies deploy/'s units;
  # ss (iproute2) shows a listening socket's backlog.
  packages+=(python3-flask python3-django python3-fastapi gunicorn curl nghttp2-client systemd iproute2)
  # promtool (in Debian's prometheus package) checks /metrics; without its recommends (exporters, a web console).
  lean=(prometheus)
fi
need=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
for pkg in "${lean[@]:-}"; do
  if [ -n "$pkg" ] && ! dpkg -s "$pkg" >/dev/null 2>&1; then
    echo "Installing Debian package: $pkg"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$pkg"
  fi
done
