"""The PEP 3333 side of a gunicorn-net WSGI worker: runs inside the worker's embedded CPython.

.NET hands each request over as one string (environ keys and values separated by NUL) plus the address of the
request body it holds pinned; this module builds environ, calls the app with start_response, write() and
exc_info semantics, closes the iterable, and hands back the status, the headers and the body.
"""
import ctypes
import io
import sys
import traceback


class FileWrapper:
    """wsgi.file_wrapper: iterates a file-like object in blocks."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


class Response:
    def __init__(self):
        self.status = None
        self.headers = None
        self.chunks = []
        self.sent = False

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response called a second time without exc_info")
        if not isinstance(status, str) or len(status) < 4 or not status[:3].isdigit() or status[3] != " ":
            raise AssertionError("invalid status %r: expected '200 OK'" % (status,))
        for name, value in headers:
            if not isinstance(name, str) or not isinstance(value, str):
                raise AssertionError("header names and values must be str: %r" % ((name, value),))
            if "\n" in value or "\r" in value or ":" in name:
                raise AssertionError("invalid header %r" % ((name, value),))
        self.status = status
        self.headers = list(headers)
        return self.write

    def write(self, data):
        if self.status is None:
            raise AssertionError("write() before start_response()")
        self.sent = True
        self.chunks.append(bytes(data))


def load(target):
    """module:callable, module (meaning module:application) or module:factory() as gunicorn accepts."""
    module_name, _, expression = target.partition(":")
    expression = expression or "application"
    module = __import__(module_name, fromlist=["_"])
    name, _, call = expression.partition("(")
    app = getattr(module, name.strip())
    if call:
        app = eval("app(" + call, {"app": app})
    if not callable(app):
        raise TypeError("%s is not callable" % target)
    return app


def handle(app, packed, body_address, body_length, multithread):
    parts = packed.split("\0")
    environ = dict(zip(parts[::2], parts[1::2]))
    environ["wsgi.version"] = (1, 0)
    environ["wsgi.input"] = io.BytesIO(ctypes.string_at(body_address, body_length) if body_length else b"")
    environ["wsgi.errors"] = sys.stderr
    environ["wsgi.multithread"] = multithread
    environ["wsgi.multiprocess"] = True
    environ["wsgi.run_once"] = False
    environ["wsgi.file_wrapper"] = FileWrapper
    response = Response()
    request = _request_view(environ) if _hooks else None
    try:
        if "pre_request" in _hooks:
            _hooks["pre_request"](_worker, request)
        result = app(environ, response.start_response)
        try:
            for chunk in result:
                if chunk:
                    if response.status is None:
                        raise AssertionError("the app yielded data before calling start_response()")
                    response.sent = True
                    response.chunks.append(bytes(chunk))
        finally:
            if hasattr(result, "close"):
                result.close()
        if response.status is None:
            raise AssertionError("the app returned without calling start_response()")
    except Exception:
        path = environ.get("PATH_INFO", "")
        sys.stderr.write("Error handling request %s\n%s" % (path, traceback.format_exc()))
        sys.stderr.flush()
        return "500 Internal Server Error\0Content-Type\0text/plain\0Connection\0close", b"Internal Server Error\n"
    body = b"".join(response.chunks)
    if "post_request" in _hooks:
        import types
        view = types.SimpleNamespace(status=response.status, status_code=int(response.status[:3]),
                                     headers=response.headers, sent=len(body))
        try:
            _hooks["post_request"](_worker, request, environ, view)
        except Exception:
            sys.stderr.write("Exception in post_request hook\n%s" % traceback.format_exc())
            sys.stderr.flush()
    head = [response.status]
    for name, value in response.headers:
        head.append(name)
        head.append(value)
    return "\0".join(head), body


def copy_into(address, data):
    ctypes.memmove(address, data, len(data))


# Worker-side hooks in gunicorn's form (python:module:function), with gunicorn's arguments.
_hooks = {}
_server = None
_worker = None

_HOOK_ARGUMENTS = {
    "post_fork": lambda: (_server, _worker),
    "post_worker_init": lambda: (_worker,),
    "worker_int": lambda: (_worker,),
    "worker_abort": lambda: (_worker,),
    "worker_exit": lambda: (_server, _worker),
}


def configure_hooks(packed, worker_pid, age, master_pid):
    """packed: name NUL module:function NUL ... Imports every hook now, so a bad one fails the boot (exit 4)."""
    global _server, _worker
    import types
    _server = types.SimpleNamespace(pid=master_pid)
    _worker = types.SimpleNamespace(pid=worker_pid, ppid=master_pid, age=age, alive=True)
    parts = packed.split("\0") if packed else []
    for name, target in zip(parts[::2], parts[1::2]):
        _hooks[name] = load(target)


def call_hook(name):
    hook = _hooks.get(name)
    if hook is None:
        return
    try:
        hook(*_HOOK_ARGUMENTS[name]())
    except Exception:
        sys.stderr.write("Exception in %s hook\n%s" % (name, traceback.format_exc()))
        sys.stderr.flush()


def _request_view(environ):
    import types
    headers = [(k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")]
    for key, name in (("CONTENT_TYPE", "CONTENT-TYPE"), ("CONTENT_LENGTH", "CONTENT-LENGTH")):
        if key in environ:
            headers.append((name, environ[key]))
    query = environ.get("QUERY_STRING", "")
    return types.SimpleNamespace(
        method=environ["REQUEST_METHOD"], path=environ.get("PATH_INFO", ""), query=query,
        uri=environ.get("RAW_URI", ""), version=(1, 1), headers=headers)
