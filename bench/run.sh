#!/usr/bin/env bash
# Benchmarks against nginx + gunicorn (run on demand, not in CI): installs the references from Debian, builds
# gunicorn-net in Release, runs bench/bench.py and writes docs/benchmarks.md.
# ROUNDS=3 SECONDS_PER_RUN=10 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in nginx gunicorn wrk python3-flask libpython3.11; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
dotnet publish src/Front -c Release -o out/gunicorn-net --nologo -v quiet
/usr/bin/python3 bench/bench.py
