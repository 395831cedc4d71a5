"""gunicorn-net's asgi worker: an ASGI 3 app (2.0 double-callables adapted) on the worker's one event loop.

The loop runs on the worker's serving thread and owns the worker's connections: it watches the listener and every
connection from the front with its own selector (add_reader), as uvicorn does, while the HTTP stays in the worker's
.NET code, called from here (native_*, installed by the worker): when a connection is readable, native_request reads
and parses the head without waiting and returns the scope, built in C# from the head's bytes, with the body that
came with it; the app's send() writes through native_start/native_write (the head goes with the first body bytes,
one send), and native_finish frames the end. No thread hand-off and no queue per request: under load the selector
finds several connections ready at once and the loop does not sleep between them.

Lifespan startup runs before the worker reports ready; shutdown runs at the worker's exit, within
graceful_timeout. A WebSocket handshake hands its connection to a session (asgi_websocket.py) on the same loop.
"""
import asyncio
import atexit
import inspect
import os
import sys
import traceback

from gunicorn_net_asgi_websocket import WebSocketSession, configure

# The worker's HTTP (AsgiCallbacks.cs), set on this module before load().
native_accept = native_request = native_read = native_peer_closed = None
native_start = native_write = native_sendfile = native_fail = native_finish = None
native_close = native_detach = native_tick = None


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


class _Exchange:
    """One request on one connection: the app's receive() and send(), and how the request ends."""

    __slots__ = ("server", "fd", "body", "more", "started", "complete", "released", "client_gone", "ended",
                 "body_waiter", "paused", "task", "status", "headers", "sent")

    def __init__(self, server, fd, body, more):
        self.server = server
        self.fd = fd
        self.body = body  # what came with the head, until the first receive()
        self.more = more
        self.started = self.complete = self.released = self.client_gone = self.paused = False
        self.ended = None  # made when the app waits for http.disconnect: set when the response is whole or the client gone
        self.body_waiter = None
        self.task = None
        self.status, self.headers, self.sent = 500, [], 0  # for the post_request hook

    async def receive(self):
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": self.more}
        if self.more and not self.released:
            chunk = await self._next_chunk()
            if chunk is not None:
                return chunk
        if not self.released:
            if self.ended is None:
                self.ended = asyncio.Event()
            self.server.watch(self)
            await self.ended.wait()
        return {"type": "http.disconnect"}

    async def _next_chunk(self):
        while True:
            got = native_read(self.fd)
            if got is False:
                self.disconnected()
                return None
            if got is not None:
                body, self.more = got
                return {"type": "http.request", "body": body, "more_body": self.more}
            # One waiter shared by every receive() that waits (Starlette may call receive() from two tasks and cancel
            # one): it is cleared only where it is resolved, and a cancelled receiver does not take it with it.
            if self.body_waiter is None or self.body_waiter.done():
                self.body_waiter = self.server.loop.create_future()
            waiter = self.body_waiter
            self.server.watch(self)
            await asyncio.shield(waiter)
            if self.released:
                return None

    def readable(self):
        """The connection is readable while this request runs: body bytes the app waits for, or the front leaving."""
        if self.body_waiter is not None:
            self._resolve_waiter()
            return
        if not self.more and native_peer_closed(self.fd):
            self.disconnected()
            return
        # Body bytes nobody asks for yet (or, never from the front, a pipelined request): stop watching until asked.
        self.server.pause(self)

    def disconnected(self):
        """The client went away: receive() says http.disconnect; the task gets asgi_disconnect_grace_period, then is
        cancelled."""
        if self.client_gone or self.released:
            return
        self.client_gone = True
        self.server.release(self, False)
        task = self.task
        if task is not None and not task.done():
            self.server.loop.call_later(self.server.grace, lambda: task.done() or task.cancel())

    def _wake(self):
        if self.ended is not None:
            self.ended.set()
        self._resolve_waiter()

    def _resolve_waiter(self):
        waiter, self.body_waiter = self.body_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def send(self, message):
        if self.client_gone:
            raise OSError("the client disconnected")
        kind = message["type"]
        if kind == "http.response.start" and not self.started:
            self._io(native_start, message["status"], message.get("headers", ()))
            self.started = True
            self.status, self.headers = message["status"], message.get("headers", ())
        elif kind == "http.response.body" and self.started and not self.complete:
            more = message.get("more_body", False)
            body = message.get("body", b"")
            self._io(native_write, body, more)
            self.sent += len(body)
            if not more:
                self.complete = True
                self.server.release(self, True)
        elif kind == "http.response.pathsend" and self.started and not self.complete:
            with open(message["path"], "rb") as file:  # a file that cannot be opened is the app's error: a 500
                self._io(native_sendfile, file.fileno(), os.fstat(file.fileno()).st_size)
            self.complete = True
            self.server.release(self, True)
        elif kind == "http.response.start":
            raise RuntimeError("http.response.start sent twice")
        elif kind in ("http.response.body", "http.response.pathsend") and not self.started:
            raise RuntimeError("%s before http.response.start" % kind)

    def _io(self, call, *args):
        """A write to the connection; OSError from it means the front went away (gunicorn's "Ignoring EPIPE")."""
        try:
            call(self.fd, *args)
        except OSError:
            if not self.released:
                self.client_gone = True
                self.server.release(self, False)
            raise


class _SessionDone:
    """What a WebSocket session reports its end to: the server's count of work in progress."""

    def __init__(self, server):
        self.server = server

    def put(self, _):
        self.server.task_done()


class Server:
    def __init__(self, app, loop_kind, lifespan, grace, hooks, graceful_timeout):
        self.app = _asgi3(app)
        self.loop = _new_loop(loop_kind)
        asyncio.set_event_loop(self.loop)
        self.grace = grace
        self.graceful_timeout = graceful_timeout
        self.pre_request, self.post_request = hooks
        self.state = {}
        self.sessions = set()
        self.connections = set()  # every descriptor watched: idle, or with its request in self.active
        self.active = {}
        self.in_progress = 0  # requests and WebSocket sessions whose app has not returned yet
        self.listener = None
        self.stopping = False
        self._lifespan_events = None
        self._lifespan_done = None
        if lifespan != "off":
            self._start_lifespan(required=lifespan == "on")
        # The worker calls _close_sessions when its graceful stop begins; at exit it runs again (atexit runs the
        # last registered first: before the app's lifespan shutdown) for any WebSocket opened meanwhile.
        atexit.register(self._close_sessions)

    def _on_loop(self, coroutine, timeout):
        """Runs coroutine on the loop, from another thread while the loop serves, or on this one once it has stopped."""
        if self.loop.is_running():
            return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, timeout))

    # Serving ----------------------------------------------------------------------------------------------------

    def serve(self, listener):
        """Runs the loop on the calling thread until stop_threadsafe() and the last request."""
        self.listener = listener
        self.loop.add_reader(listener, self._accept)
        self._tick()
        try:
            self.loop.run_forever()
        finally:
            for fd in list(self.connections):
                self.loop.remove_reader(fd)
            self.connections.clear()

    def stop_threadsafe(self):
        self.loop.call_soon_threadsafe(self._stop)

    def _stop(self):
        self.stopping = True
        if self.listener is not None:
            self.loop.remove_reader(self.listener)
        # A request the front had already sent on an idle connection is served; the other idle ones close.
        try:
            for fd in list(self.connections):
                if fd not in self.active:
                    try:
                        self._readable(fd)
                    finally:
                        if fd not in self.active and fd in self.connections:
                            self._forget(fd)
            # WebSockets opened since the worker's stop began (its first 1001 pass) go away too.
            for session in list(self.sessions):
                self.loop.create_task(session.going_away())
        finally:
            self._stop_when_idle()

    def _stop_when_idle(self):
        if self.stopping and self.in_progress == 0:
            self.loop.stop()

    def _tick(self):
        native_tick()
        self.loop.call_later(1.0, self._tick)

    def _accept(self):
        accepted = native_accept(self.listener)
        if accepted is None:
            # Out of descriptors: accept again in 100 ms rather than spin on a readable listener.
            self.loop.remove_reader(self.listener)
            self.loop.call_later(0.1, lambda: self.stopping or self.loop.add_reader(self.listener, self._accept))
            return
        for fd in accepted:
            self.connections.add(fd)
            self.loop.add_reader(fd, self._readable, fd)

    def _readable(self, fd):
        exchange = self.active.get(fd)
        if exchange is not None:
            exchange.readable()
            return
        request = native_request(fd)
        if request is None:
            return  # the head has not all arrived
        if request is False:
            self._forget(fd)
            return
        scope, body, more = request
        scope["state"] = self.state.copy()
        if scope["type"] == "websocket":
            self._websocket(fd, scope)
            return
        exchange = _Exchange(self, fd, body, more)
        self.active[fd] = exchange
        self.in_progress += 1
        exchange.task = self.loop.create_task(self._run(exchange, scope))

    def _forget(self, fd):
        self.loop.remove_reader(fd)
        self.connections.discard(fd)
        native_close(fd)

    def watch(self, exchange):
        """The app waits on the connection (body bytes, or http.disconnect): watch it again if it was paused."""
        if exchange.paused and not exchange.released:
            exchange.paused = False
            self.loop.add_reader(exchange.fd, self._readable, exchange.fd)

    def pause(self, exchange):
        exchange.paused = True
        self.loop.remove_reader(exchange.fd)

    def release(self, exchange, complete):
        """The response is whole (or cannot be): the connection serves the next request, or closes."""
        if exchange.released:
            return
        exchange.released = True
        fd = exchange.fd
        del self.active[fd]
        exchange._wake()
        if native_finish(fd, complete) and not self.stopping:
            if exchange.paused:
                self.loop.add_reader(fd, self._readable, fd)
        else:
            self._forget(fd)

    def task_done(self):
        self.in_progress -= 1
        self._stop_when_idle()

    async def _run(self, exchange, scope):
        environ = _hook_environ(scope) if self.pre_request or self.post_request else None
        try:
            if self.pre_request:
                self.pre_request(environ)
            await self.app(scope, exchange.receive, exchange.send)
            if not exchange.complete and not exchange.released:
                message = ("the ASGI app returned without sending a response" if not exchange.started
                           else "the ASGI app returned before finishing its response body")
                native_fail(exchange.fd, "RuntimeError: " + message)
        except asyncio.CancelledError:
            if not exchange.released:
                native_fail(exchange.fd, "the request was cancelled")
        except BaseException:
            if exchange.released:
                if not exchange.client_gone:
                    print("Exception in ASGI app after its response:\n%s" % traceback.format_exc(), file=sys.stderr)
            else:
                native_fail(exchange.fd, traceback.format_exc())
        finally:
            self.release(exchange, False)
            if self.post_request:
                headers = [(bytes(name).decode("latin-1"), bytes(value).decode("latin-1")) for name, value in exchange.headers]
                self.post_request(environ, "%d" % exchange.status, headers, exchange.sent)
            # The exchange and its task refer to each other: without this, every request would leave a cycle for
            # Python's collector, which frees long-lived garbage rarely (a worker grew by 16 MiB under load).
            exchange.task = None
            self.task_done()

    # WebSockets ------------------------------------------------------------------------------------------------

    def _websocket(self, fd, scope):
        """An upgrade: the session takes the connection and runs on the loop."""
        if self.stopping:
            # The worker is going away: the handshake is refused (503) and the client reconnects to one that stays.
            try:
                native_start(fd, 503, [(b"retry-after", b"1")])
                native_write(fd, b"", False)
                native_finish(fd, True)
            except OSError:
                pass
            self._forget(fd)
            return
        self.loop.remove_reader(fd)
        self.connections.discard(fd)
        fd = native_detach(fd)
        key = version = ""
        for name, value in scope["headers"]:
            if name == b"sec-websocket-key":
                key = value.decode("latin-1")
            elif name == b"sec-websocket-version":
                version = value.decode("latin-1")
        session = WebSocketSession(self.app, scope, fd, key, self.sessions, version)
        self.in_progress += 1
        self.loop.create_task(session.run(_SessionDone(self)))

    def _close_sessions(self):
        """The worker is stopping (TERM, a reload, max_requests): each open WebSocket gets close code 1001."""
        if not self.sessions:
            return

        async def close_all():
            await asyncio.gather(*(session.going_away() for session in list(self.sessions)), return_exceptions=True)

        try:
            self._on_loop(close_all(), 0.5)
        except Exception:
            pass

    # Lifespan -------------------------------------------------------------------------------------------------

    def _start_lifespan(self, required):
        started = self.loop.run_until_complete(self._lifespan_startup(required))
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
            self._on_loop(shutdown(), self.graceful_timeout)
        except BaseException as error:
            print("ASGI lifespan shutdown did not complete within graceful_timeout (%g s): %r" % (self.graceful_timeout, error),
                  file=sys.stderr)


def _hook_environ(scope):
    """The part of a WSGI environ that gunicorn's pre_request and post_request hooks read, for an ASGI request."""
    environ = {"REQUEST_METHOD": scope["method"], "PATH_INFO": scope["path"],
               "QUERY_STRING": scope["query_string"].decode("latin-1"),
               "RAW_URI": scope["raw_path"].decode("latin-1") + ("?" + scope["query_string"].decode("latin-1")
                                                                  if scope["query_string"] else "")}
    for name, value in scope["headers"]:
        environ["HTTP_" + name.decode("latin-1").upper().replace("-", "_")] = value.decode("latin-1")
    return environ


def load(app, loop_kind, lifespan, grace, websocket_limits, pre_request, post_request, graceful_timeout):
    """The server for the ASGI app `app` (already imported by the runner); the worker calls serve(listener). The
    hooks are the runner's pre_request and post_request when the config names them, else None; graceful_timeout
    bounds the lifespan's shutdown."""
    max_message, ping_interval, ping_timeout = websocket_limits.split()
    configure(int(max_message), float(ping_interval), float(ping_timeout))
    return Server(app, loop_kind, lifespan, float(grace), (pre_request, post_request), float(graceful_timeout))
