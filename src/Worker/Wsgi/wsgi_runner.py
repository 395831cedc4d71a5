"""The Python side of a gunicorn-net WSGI worker: runs inside the worker's embedded CPython.

The worker drives PEP 3333 itself through CPython's C API (environ, start_response, write, iterating and closing
the result). This module holds what reads best in Python: loading the app as gunicorn does, gunicorn's server hooks,
wsgi.input (a stream over the worker's connection, read as the app asks) and wsgi.file_wrapper. The worker adds the
functions _read and _readline (its C entry points) to this module before any request.
"""
import io
import os
import sys
import traceback
import types


class FileWrapper:
    """wsgi.file_wrapper: iterates a file-like object in blocks; over a real file the worker uses sendfile(2)."""

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


def file_wrapper_span(wrapper):
    """(fd, offset, size) when the wrapper holds a regular file the worker may sendfile(2) from, else None."""
    try:
        fd = wrapper.filelike.fileno()
        stat = os.fstat(fd)
        if not (stat.st_mode & 0o170000 == 0o100000):  # S_ISREG
            return None
        offset = wrapper.filelike.tell()
        if hasattr(wrapper.filelike, "flush"):
            wrapper.filelike.flush()
        return fd, offset, max(0, stat.st_size - offset)
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return None


class Input:
    """wsgi.input: the request body, read from the worker's connection as the app asks (gunicorn's Body)."""

    __slots__ = ("_handle",)

    def __init__(self, handle):
        self._handle = handle

    def read(self, size=-1):
        return _read(self._handle, -1 if size is None else size)

    def readline(self, size=-1):
        return _readline(self._handle, -1 if size is None else size)

    def readlines(self, hint=-1):
        lines, total = [], 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self):
        pass


def load(target):
    """module:callable, module (meaning module:application) or module:factory(args), as gunicorn accepts."""
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


def shutdown():
    """A graceful exit: atexit handlers and buffered output, as an interpreter's own exit would."""
    import atexit
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass


# gunicorn's server hooks in Python form (python:module:function), with gunicorn's arguments.
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


def pre_request(environ):
    hook = _hooks.get("pre_request")
    if hook is not None:
        hook(_worker, _request_view(environ))


def post_request(environ, status, headers, sent):
    hook = _hooks.get("post_request")
    if hook is None:
        return
    view = types.SimpleNamespace(status=status, status_code=int(status[:3]) if status else 500,
                                 headers=headers, sent=sent)
    try:
        hook(_worker, _request_view(environ), environ, view)
    except Exception:
        sys.stderr.write("Exception in post_request hook\n%s" % traceback.format_exc())
        sys.stderr.flush()


def _request_view(environ):
    headers = [(k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")]
    for key, name in (("CONTENT_TYPE", "CONTENT-TYPE"), ("CONTENT_LENGTH", "CONTENT-LENGTH")):
        if key in environ:
            headers.append((name, environ[key]))
    return types.SimpleNamespace(
        method=environ["REQUEST_METHOD"], path=environ.get("PATH_INFO", ""), query=environ.get("QUERY_STRING", ""),
        uri=environ.get("RAW_URI", ""), version=(1, 1), headers=headers)
