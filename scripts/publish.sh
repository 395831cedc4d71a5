#!/usr/bin/env bash
# Publishes gunicorn-net as native executables (linux-x64, Native AOT): the master, gunicorn-net, and its worker,
# gunicorn-net-worker, side by side in artifacts/gunicorn-net/ (or the directory given), with the startup hook that
# unmodified ASP.NET Core apps are run with and the sample site the built-in configuration serves.
# MASTER=jit publishes the master as a JIT build instead (needs the .NET runtime; docs/benchmarks.md measures the
# trade: about 10% more requests/s at steady state, about 55 MiB more memory, a slow first 15 s after each start).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-artifacts/gunicorn-net}")
scripts/prerequisites.sh
aot=(-c Release -r linux-x64 --nologo -v quiet -p:PublishAot=true -warnaserror)
if [ "${MASTER:-native}" = "jit" ]; then
  dotnet publish src/Front/Gunicorn.Front.csproj -c Release --nologo -v quiet -warnaserror -o "$out"
else
  dotnet publish src/Front/Gunicorn.Front.csproj "${aot[@]}" -o "$out"
fi
dotnet publish src/Worker/Gunicorn.Worker.csproj "${aot[@]}" -o "$out"
# Loaded into the app's own runtime (JIT), so shipped as an assembly.
dotnet build src/AspNetWorker/Gunicorn.AspNetWorker.csproj -c Release --nologo -v quiet -o "$out/.aspnetworker"
cp "$out/.aspnetworker/Gunicorn.AspNetWorker.dll" "$out/"
rm -rf "$out/.aspnetworker" "$out"/*.pdb "$out"/*.staticwebassets.endpoints.json
echo "Published to $out: $(cd "$out" && ls gunicorn-net gunicorn-net-worker Gunicorn.AspNetWorker.dll | tr '\n' ' ')"
