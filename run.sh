#!/usr/bin/env bash
# Runs gunicorn-net (publishing its native executables first when the sources changed); arguments go to gunicorn-net.
# Without arguments it serves the built-in default configuration on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")"
bin=artifacts/gunicorn-net/gunicorn-net
# Sources only: build outputs (obj/, bin/) are written after the binary and must not force a publish every time.
if [ ! -x "$bin" ] || [ -n "$(find src config samples/static Directory.*.props \( -name obj -o -name bin \) -prune -o -newer "$bin" -type f -print -quit)" ]; then
  scripts/publish.sh >&2
fi
exec "$bin" "$@"
