"""WSGI apps for gunicorn-net's tests. `validated` is wrapped in wsgiref.validate, which raises on any PEP 3333
violation by the server (and the test then sees a 500)."""
import hashlib
import json
from wsgiref.validate import validator


def _echo(environ, start_response):
    # A chunked body has no CONTENT_LENGTH (wsgi.input_terminated): read to its end, as gunicorn's apps do.
    # (wsgiref.validate insists on read(size), so the rest is read in blocks.)
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    body = stream.read(int(length)) if length else b"".join(iter(lambda: stream.read(65536), b""))
    summary = {
        "method": environ["REQUEST_METHOD"],
        "path": environ["PATH_INFO"],
        "query": environ["QUERY_STRING"],
        "script_name": environ["SCRIPT_NAME"],
        "scheme": environ["wsgi.url_scheme"],
        "remote_addr": environ.get("REMOTE_ADDR"),
        "remote_port": environ.get("REMOTE_PORT"),
        "peer_header": environ.get("HTTP_GUNICORN_NET_PEER"),
        "content_length": environ.get("CONTENT_LENGTH"),
        "content_type": environ.get("CONTENT_TYPE"),
        "x_test": environ.get("HTTP_X_TEST"),
        "body_length": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "multithread": environ["wsgi.multithread"],
    }
    payload = json.dumps(summary).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]


validated = validator(_echo)


def _stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(5):
        yield ("chunk %d\n" % i).encode()


streaming = validator(_stream)


def _write_callable(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    return [b"returned"]


write_callable = _write_callable


def raising(environ, start_response):
    if environ["PATH_INFO"] == "/fail":
        raise RuntimeError("the app failed on purpose")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"still serving"]


def factory(greeting):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [greeting.encode()]
    return app


application = factory("default application")
