"""gunicorn-net's asgi worker: an ASGI 3 app (2.0 double-callables adapted) on one event loop per worker.

The loop runs on a Python thread of its own. A request arrives on a serving thread of the worker, as a WSGI call
(the worker's HTTP, body and response I/O stay in .NET); the bridge hands it to the loop with
call_soon_threadsafe (which wakes the loop through the file descriptor it watches) and waits, without the GIL, on
a queue the app's send() fills: the response head, then each body chunk, written by the serving thread as it
comes (streaming). Lifespan startup runs before the worker reports ready; shutdown runs at the worker's graceful
exit, within graceful_timeout.
"""
import asyncio
import atexit
import inspect
import os
import queue
import sys
import threading

from gunicorn_net_asgi_websocket import WebSocketSession, configure, reason

class _ThreadSafeFlag:
    """A request's end, seen from the loop: the response is whole, or (set via call_soon_threadsafe from the serving
    thread) the client went away; then the app's task gets asgi_disconnect_grace_period before it is cancelled."""

    def __init__(self):
        self.event = None
        self.client_gone = False
        self.task = None
        self.grace = 0.0

    def bind(self, loop, grace):
        self.event = asyncio.Event()
        self.grace = grace

    def set(self):
        self.client_gone = True
        self.event.set()
        task = self.task
        if task is not None and not task.done():
            asyncio.get_running_loop().call_later(self.grace, lambda: task.done() or task.cancel())


def _asgi3(app):
    """ASGI 2.0 apps are double callables: app(scope) returns the coroutine function (receive, send). Told apart as
    uvicorn does: a class is ASGI 3 only if awaitable, a function or callable object if it is a coroutine function."""
    if inspect.isclass(app):
        asgi3 = hasattr(app, "__await__")
    elif inspect.isfunction(app):
        asgi3 = inspect.iscoroutinefunction(app)
    else:
        asgi3 = inspect.iscoroutinefunction(getattr(app, "__call__", None))
    if asgi3:
        return app

    async def adapted(scope, receive, send):
        instance = app(scope)
        await instance(receive, send)

    return adapted


def _new_loop(kind):
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
            return uvloop.new_event_loop()
        except ImportError:
            if kind == "uvloop":
                raise
    return asyncio.new_event_loop()


class Bridge:
    def __init__(self, app, loop_kind, lifespan, grace, root_path):
        self.app = _asgi3(app)
        self.loop = _new_loop(loop_kind)
        self.grace = grace
        self.root_path = root_path
        self.state = {}
        self._lifespan_events = None
        self._lifespan_done = None
        self.sessions = set()
        threading.Thread(target=self.loop.run_forever, name="asgi-loop", daemon=True).start()
        if lifespan != "off":
            self._start_lifespan(required=lifespan == "on")
        # The worker calls _close_sessions when its graceful stop begins; at exit it runs again (atexit runs the
        # last registered first: before the app's lifespan shutdown) for any WebSocket opened meanwhile.
        atexit.register(self._close_sessions)

    # Lifespan -------------------------------------------------------------------------------------------------

    def _start_lifespan(self, required):
        started = asyncio.run_coroutine_threadsafe(self._lifespan_startup(required), self.loop).result()
        if started:
            atexit.register(self._shutdown_lifespan)

    async def _lifespan_startup(self, required):
        self._lifespan_events = asyncio.Queue()
        startup = self.loop.create_future()
        self._lifespan_done = self.loop.create_future()

        async def receive():
            return await self._lifespan_events.get()

        async def send(message):
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                startup.set_result(True)
            elif kind == "lifespan.startup.failed":
                startup.set_exception(RuntimeError("ASGI lifespan startup failed: %s" % message.get("message", "")))
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed") and not self._lifespan_done.done():
                self._lifespan_done.set_result(message)

        async def main():
            scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
            try:
                await self.app(scope, receive, send)
            except BaseException as error:
                if not startup.done():
                    # An app without lifespan support raises on the unknown scope: fine unless lifespan is "on".
                    if required:
                        startup.set_exception(error)
                    else:
                        startup.set_result(False)
                    return
                print("Exception in ASGI lifespan: %r" % (error,), file=sys.stderr)
            finally:
                if not startup.done():
                    # Returned without a word on startup: no lifespan support, unless it was required.
                    if required:
                        startup.set_exception(RuntimeError("the ASGI app returned from lifespan without completing startup"))
                    else:
                        startup.set_result(False)
                if not self._lifespan_done.done():
                    self._lifespan_done.set_result(None)

        await self._lifespan_events.put({"type": "lifespan.startup"})
        self.loop.create_task(main())
        return await startup

    def _shutdown_lifespan(self):
        async def shutdown():
            await self._lifespan_events.put({"type": "lifespan.shutdown"})
            await self._lifespan_done

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=30)
        except Exception as error:
            print("ASGI lifespan shutdown did not complete: %r" % (error,), file=sys.stderr)

    # Requests -------------------------------------------------------------------------------------------------

    def _scope(self, environ):
        headers = []
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers.append((key[5:].replace("_", "-").lower().encode("latin-1"), value.encode("latin-1")))
        if environ.get("CONTENT_TYPE"):
            headers.append((b"content-type", environ["CONTENT_TYPE"].encode("latin-1")))
        if environ.get("CONTENT_LENGTH"):
            headers.append((b"content-length", environ["CONTENT_LENGTH"].encode("latin-1")))
        raw_uri = environ.get("RAW_URI", "")
        raw_path = raw_uri.partition("?")[0].encode("latin-1")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": environ["SERVER_PROTOCOL"].partition("/")[2] or "1.1",
            "method": environ["REQUEST_METHOD"],
            "scheme": environ["wsgi.url_scheme"],
            "path": environ["PATH_INFO"].encode("latin-1").decode("utf-8", "replace"),
            "raw_path": raw_path,
            "query_string": environ["QUERY_STRING"].encode("latin-1"),
            "root_path": self.root_path + environ.get("SCRIPT_NAME", ""),
            "headers": headers,
            "server": (environ["SERVER_NAME"], int(environ["SERVER_PORT"])),
            "state": dict(self.state),
        }
        if environ.get("REMOTE_ADDR"):
            scope["client"] = (environ["REMOTE_ADDR"], int(environ.get("REMOTE_PORT") or 0))
        return scope

    def __call__(self, environ, start_response):
        if "gunicorn_net.websocket_fd" in environ:
            return self._websocket(environ)
        length = environ.get("CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        body = stream.read(int(length)) if length else b"".join(iter(lambda: stream.read(65536), b""))
        events = queue.SimpleQueue()
        scope = self._scope(environ)
        disconnected = _ThreadSafeFlag()
        self.loop.call_soon_threadsafe(self._spawn, scope, body, events, disconnected)
        kind, *rest = events.get()
        if kind == "error":
            raise rest[0]
        if kind == "end":
            raise RuntimeError("the ASGI app returned without sending a response")
        status, headers = rest
        start_response("%d %s" % (status, reason(status)),
                       [(bytes(name).decode("latin-1"), bytes(value).decode("latin-1")) for name, value in headers])
        return self._body(events, disconnected)

    def _body(self, events, disconnected):
        finished = False
        try:
            yield from self._chunks(events)
            finished = True
        finally:
            if not finished:
                # The client went away (the worker closed this iterator early): the app hears http.disconnect.
                self.loop.call_soon_threadsafe(disconnected.set)

    def _chunks(self, events):
        while True:
            kind, *rest = events.get()
            if kind == "body":
                chunk, more = rest
                if chunk:
                    yield chunk
                if not more:
                    return
            elif kind == "error":
                raise rest[0]
            else:
                # The app returned before its last body chunk: the response must not pass for complete.
                raise RuntimeError("the ASGI app returned before finishing its response body")

    def _spawn(self, scope, body, events, disconnected):
        disconnected.bind(self.loop, self.grace)
        disconnected.task = self.loop.create_task(self._run(scope, body, events, disconnected))

    async def _run(self, scope, body, events, disconnected):
        request_sent = False
        complete = disconnected.event  # the response is whole, or the client is gone: receive() says disconnect
        started = False

        async def receive():
            nonlocal request_sent
            if not request_sent:
                request_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await complete.wait()
            return {"type": "http.disconnect"}

        def completed():
            # The response is whole: receive() now says http.disconnect, and the task may clean up for
            # asgi_disconnect_grace_period before it is cancelled.
            complete.set()
            task = asyncio.current_task()
            self.loop.call_later(self.grace, lambda: task.done() or task.cancel())

        async def send(message):
            nonlocal started
            kind = message["type"]
            if disconnected.client_gone:
                raise OSError("the client disconnected")
            if kind == "http.response.start" and not started:
                started = True
                events.put(("start", message["status"], message.get("headers", [])))
            elif kind == "http.response.body" and started and not complete.is_set():
                more = message.get("more_body", False)
                events.put(("body", bytes(message.get("body", b"")), more))
                if not more:
                    completed()
            elif kind == "http.response.pathsend" and started and not complete.is_set():
                with open(message["path"], "rb") as file:
                    while True:
                        chunk = file.read(256 * 1024)
                        if not chunk:
                            break
                        events.put(("body", chunk, True))
                events.put(("body", b"", False))
                completed()

        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if not complete.is_set():
                raise
        except BaseException as error:
            if not complete.is_set():
                events.put(("error", error))
                complete.set()
            else:
                print("Exception in ASGI app after its response: %r" % (error,), file=sys.stderr)
        finally:
            if not complete.is_set():
                events.put(("end",))
                complete.set()


    def _close_sessions(self):
        """The worker is stopping (TERM, a reload, max_requests): each open WebSocket gets close code 1001."""
        if not self.sessions:
            return

        async def close_all():
            await asyncio.gather(*(session.going_away() for session in list(self.sessions)), return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout=0.5)
        except Exception:
            pass

    # WebSockets ------------------------------------------------------------------------------------------------

    def _websocket(self, environ):
        """An upgrade: the session runs on the loop over a duplicate of the connection; this serving thread waits."""
        try:
            scope = self._scope(environ)
        except BaseException:
            os.close(environ["gunicorn_net.websocket_fd"])
            raise
        scope["type"] = "websocket"
        scope["scheme"] = "wss" if scope["scheme"] == "https" else "ws"
        scope["subprotocols"] = [p.strip() for p in environ.get("HTTP_SEC_WEBSOCKET_PROTOCOL", "").split(",") if p.strip()]
        del scope["method"]
        finished = queue.SimpleQueue()
        session = WebSocketSession(self.app, scope, environ["gunicorn_net.websocket_fd"], environ.get("HTTP_SEC_WEBSOCKET_KEY", ""),
                                   self.sessions, environ.get("HTTP_SEC_WEBSOCKET_VERSION", ""))
        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(session.run(finished)))
        finished.get()
        return []


def load(app, loop_kind, lifespan, grace, root_path, websocket_limits):
    """The WSGI callable the worker serves, over the ASGI app `app` (already imported by the runner)."""
    max_message, ping_interval, ping_timeout = websocket_limits.split()
    configure(int(max_message), float(ping_interval), float(ping_timeout))
    return Bridge(app, loop_kind, lifespan, float(grace), root_path)
