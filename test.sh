#!/usr/bin/env bash
# Installs what the tests need (Debian packages), builds, publishes the native executables and runs the whole test
# suite against them. Extra arguments go to `dotnet test`, e.g. ./test.sh --filter GoldenConfig
set -euo pipefail
cd "$(dirname "$0")"
scripts/prerequisites.sh tests
dotnet build Gunicorn.sln -c Release -warnaserror --nologo -v quiet
scripts/publish.sh
# The integration tests start the published native binaries (GUNICORN_NET_BINARY); unit tests use the build.
GUNICORN_NET_BINARY="$PWD/artifacts/gunicorn-net/gunicorn-net" \
  dotnet test Gunicorn.sln -c Release --no-build --nologo --logger "console;verbosity=normal" "$@"
