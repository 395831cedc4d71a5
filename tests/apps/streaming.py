"""WSGI app for the streaming tests: large generated downloads, uploads hashed as they are read, server-sent events,
downloads handed to the front (X-Accel-Redirect, X-Sendfile, wsgi.file_wrapper) and apps that break the rules."""
import hashlib
import os
import time
from urllib.parse import parse_qs

MIB = 1024 * 1024


def block(i):
    """Block i of a generated download: 1 MiB of one byte value, so the client can compute the same hash."""
    return bytes([i % 251]) * MIB


def app(environ, start_response):
    path = environ["PATH_INFO"]
    query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    pid = ("X-Worker-Pid", str(os.getpid()))

    if path == "/download":
        blocks = int(query["mib"])
        start_response("200 OK", [("Content-Type", "application/octet-stream"), pid])
        return (block(i) for i in range(blocks))

    if path.startswith("/unbuffered/upload"):
        digest, total = hashlib.sha256(), 0
        stream = environ["wsgi.input"]
        while True:
            chunk = stream.read(256 * 1024)
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
        body = ("%d %s" % (total, digest.hexdigest())).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body))), pid])
        return [body]

    if path.startswith("/unbuffered/events") or path == "/events":
        start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), pid])

        def events():
            for n in range(int(query.get("count", "10"))):
                yield ("data: %d %.3f\n\n" % (n, time.time())).encode()
                time.sleep(0.2)
        return events()

    if path == "/accel":
        start_response("200 OK", [("Content-Type", "application/x-custom"),
                                  ("Content-Disposition", 'attachment; filename="%s"' % query["name"]),
                                  ("Cache-Control", "private"),
                                  ("X-Accel-Redirect", "/protected/" + query["name"]), pid])
        return [b"this body is discarded by the front"]

    if path == "/sendfile":
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("X-Sendfile", query["file"]), pid])
        return [b""]

    if path == "/file_wrapper":
        f = open(query["file"], "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(os.path.getsize(query["file"]))), pid])
        return environ["wsgi.file_wrapper"](f, 256 * 1024)

    if path == "/pid":
        start_response("200 OK", [("Content-Type", "text/plain"), pid])
        return [str(os.getpid()).encode()]

    if path == "/closing":
        # A long download whose close() leaves a mark: a client that hangs up must still get the iterable closed.
        return Closing(start_response, query["mark"])

    if path == "/closing-list":
        # A list subclass may add close(): PEP 3333 has it called as any other iterable's (the worker skips the lookup
        # only for a list or tuple itself).
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ClosingList([b"listed"], query["mark"])

    if path == "/bad/not-bytes":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (x for x in [b"fine ", "a str is not bytes"])

    if path == "/bad/short":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")])
        return (x for x in [b"only ten b"])

    if path == "/bad/long":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return (x for x in [b"12345", b"67890"])

    if path == "/bad/raise-after-head":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body():
            yield b"first block "
            raise RuntimeError("the app failed after its head was sent")
        return body()

    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no such route\n"]


class Closing:
    def __init__(self, start_response, mark):
        self.mark = mark
        start_response("200 OK", [("Content-Type", "application/octet-stream")])

    def __iter__(self):
        for i in range(100000):
            yield block(i)

    def close(self):
        with open(self.mark, "w") as f:
            f.write("closed")


class ClosingList(list):
    def __init__(self, blocks, mark):
        super().__init__(blocks)
        self.mark = mark

    def close(self):
        with open(self.mark, "w") as f:
            f.write("closed")
