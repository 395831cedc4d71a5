"""Blocking requests that a gthread worker must overlap: each sleeps without holding the GIL."""
import threading
import time


def app(environ, start_response):
    seconds = float(environ.get("QUERY_STRING") or "0.5")
    environ["wsgi.errors"].write("sleeping %s s\n" % seconds)
    environ["wsgi.errors"].flush()
    time.sleep(seconds)
    body = ("%s %s" % (threading.get_ident(), environ["wsgi.multithread"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
