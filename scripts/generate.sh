#!/usr/bin/env bash
# Regenerates docs/settings.md and config/gunicorn.schema.json from the settings registry.
set -euo pipefail
cd "$(dirname "$0")/.."
UPDATE_GENERATED=1 dotnet test tests/Gunicorn.Tests --nologo -v quiet --filter "FullyQualifiedName~GeneratedFilesTests"
git status --short docs/settings.md config/gunicorn.schema.json
