#!/usr/bin/env bash
# Benchmarks against nginx, nginx + gunicorn and bare Kestrel (run on demand, not in CI): installs the references
# from Debian, builds gunicorn-net and the sample ASP.NET Core app in Release, runs bench/bench.py and writes
# docs/benchmarks.md with its charts. ROUNDS=3 SECONDS_PER_RUN=8 WARMUP_SECONDS=15 by default; ONLY=static-1k,wsgi-hello,reload runs
# a subset (also flask-master-jit, reload-switch) and writes only bench/results/latest.json.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in nginx gunicorn wrk python3-flask python3-fastapi python3-uvicorn python3-matplotlib libpython3.11; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
scripts/publish.sh out/gunicorn-net
# The same master as a JIT build, with the native worker beside it (bench.py compares the two masters).
MASTER=jit scripts/publish.sh out/gunicorn-net-jit
dotnet publish samples/aspnet -c Release -o out/sample-aspnet --nologo -v quiet
/usr/bin/python3 bench/bench.py
