#!/usr/bin/env bash
# TLS audit (on demand, not in CI; takes minutes): runs Debian's testssl.sh against gunicorn-net's TLS listener with
# its default settings (TLS 1.2+, AEAD suites) and a self-signed certificate, and prints every finding of severity
# HIGH or CRITICAL in the server's configuration (protocols, ciphers, vulnerabilities; the acceptance bar: none).
# Findings about the certificate itself (cert_*: self-signed, no OCSP) depend on the certificate the operator
# installs and are listed apart. Full JSON in bench/results/testssl.json.
set -euo pipefail
cd "$(dirname "$0")/.."
for pkg in testssl.sh openssl; do
  dpkg -s "$pkg" >/dev/null 2>&1 || { SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"; $SUDO apt-get install -y -qq "$pkg"; }
done
dotnet publish src/Front -c Release -o out/gunicorn-net --nologo -v quiet
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 400 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
out/gunicorn-net/gunicorn-net -b "127.0.0.1:$port" --certfile "$work/cert.pem" --keyfile "$work/key.pem" -w 1 @hello \
  >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sk "https://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
mkdir -p bench/results
rm -f bench/results/testssl.json
testssl --quiet --color 0 --warnings off --nodns min --jsonfile bench/results/testssl.json "127.0.0.1:$port" >"$work/testssl.txt" || true
python3 - <<'PY'
import json
findings = json.load(open("bench/results/testssl.json"))
severe = [f for f in findings if f.get("severity") in ("HIGH", "CRITICAL")]
server = [f for f in severe if not f["id"].startswith("cert")]
certificate = [f for f in severe if f["id"].startswith("cert")]
print("testssl.sh: %d checks; server configuration: %d HIGH or CRITICAL; test certificate: %d"
      % (len(findings), len(server), len(certificate)))
for label, rows in (("server", server), ("certificate", certificate)):
    for f in rows:
        print("  %-11s %-9s %-28s %s" % (label, f["severity"], f["id"], f["finding"]))
for f in findings:
    if f.get("severity") in ("MEDIUM", "LOW"):
        print("  (%s) %-28s %s" % (f["severity"], f["id"], f["finding"]))
PY
