"""Blocking requests that a gthread worker must overlap: each sleeps without holding the GIL."""
import threading
import time


def app(environ, start_response):
    time.sleep(float(environ.get("QUERY_STRING") or "0.5"))
    body = ("%s %s" % (threading.get_ident(), environ["wsgi.multithread"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
