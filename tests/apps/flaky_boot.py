"""Imports fine until the file named by FLAKY_BOOT_MARKER exists: then every new worker fails to load (a bad
deploy on disk), which must give a crash-loop backoff, not a spinning master."""
import os

if os.path.exists(os.environ["FLAKY_BOOT_MARKER"]):
    raise RuntimeError("broken deploy")


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
