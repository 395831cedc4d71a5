#!/usr/bin/env bash
# BenchmarkDotNet micro-benchmarks (on demand): bench/micro/run.sh [BenchmarkDotNet args, e.g. --filter '*Wsgi*']
set -euo pipefail
cd "$(dirname "$0")"
dotnet run -c Release -- --filter '*' "$@"
