"""Answers with the contents of $BENCH_STAMP as read at import: after a reload, the new workers' answer tells when
new code is in front of clients."""
import os

with open(os.environ["BENCH_STAMP"], "rb") as f:
    STAMP = f.read()


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(STAMP)))])
    return [STAMP]
