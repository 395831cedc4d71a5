"""A WSGI app that allocates without bound on /hog (the RLIMIT_AS fault test); anything else answers "ok"."""


def app(environ, start_response):
    if environ["PATH_INFO"] == "/hog":
        chunks = []
        while True:
            chunks.append(bytearray(64 * 1024 * 1024))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
