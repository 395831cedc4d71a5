#!/usr/bin/env bash
# Installs what the tests need (Debian packages) and runs the whole test suite.
# Extra arguments go to `dotnet test`, e.g. ./test.sh --filter GoldenConfig
set -euo pipefail
cd "$(dirname "$0")"

need=()
# gunicorn is the reference the access-log test compares against.
# curl and h2load (nghttp2-client) are the clients the TLS and HTTP/2 acceptance tests drive.
for pkg in python3 libpython3.11 python3-flask python3-django gunicorn curl nghttp2-client; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

dotnet build Gunicorn.sln -c Release -warnaserror --nologo -v quiet
dotnet test Gunicorn.sln -c Release --no-build --nologo --logger "console;verbosity=normal" "$@"
