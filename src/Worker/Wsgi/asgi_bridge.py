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
import base64
import hashlib
import http
import inspect
import os
import queue
import socket
import sys
import threading

_END = object()


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


def _valid_handshake(key, version):
    try:
        return version.strip() == "13" and len(base64.b64decode(key.strip(), validate=True)) == 16
    except ValueError:
        return False


def _valid_close_code(code):
    """RFC 6455 7.4: the codes a peer may send (1004-1006 and 1015 are never sent; 1016-2999 are reserved)."""
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) or 3000 <= code <= 4999


def _reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


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
        start_response("%d %s" % (status, _reason(status)),
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


# websocket_max_message_size, websocket_ping_interval, websocket_ping_timeout (set by load()).
MAX_MESSAGE = 16 * 1024 * 1024
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocketSession:
    """RFC 6455 on an asyncio stream, driven by an ASGI websocket app (connect, accept, receive, send, close)."""

    def __init__(self, app, scope, fd, key, sessions, version):
        self.sessions = sessions
        self.version = version
        self.app = app
        self.scope = scope
        self.fd = fd
        self.key = key
        self.accepted = False
        self.closed = False
        self.incoming = None  # made on the loop (Python 3.9 binds a Queue to the loop current where it is made)
        self.writer = None
        self._write_lock = None
        self._pinging = None
        self._pong = None

    async def run(self, finished):
        self.sessions.add(self)
        self.incoming = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        try:
            reader, self.writer = await asyncio.open_connection(sock=socket.socket(fileno=self.fd))
            if not _valid_handshake(self.key, self.version):
                # RFC 6455 4.2.1: a 16-byte base64 key and version 13, or the handshake is refused.
                self.writer.write(b"HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n"
                                  b"Connection: close\r\n\r\n")
                await self.writer.drain()
                return
            connected = False

            async def receive():
                nonlocal connected
                if not connected:
                    connected = True
                    return {"type": "websocket.connect"}
                return await self.incoming.get()

            reading = None

            async def send(message):
                nonlocal reading
                kind = message["type"]
                if kind == "websocket.accept" and not self.accepted and not self.closed:
                    self.accepted = True
                    accept = base64.b64encode(hashlib.sha1(self.key.encode("latin-1") + _GUID).digest())
                    head = [b"HTTP/1.1 101 Switching Protocols", b"Upgrade: websocket", b"Connection: Upgrade",
                            b"Sec-WebSocket-Accept: " + accept]
                    if message.get("subprotocol"):
                        head.append(b"Sec-WebSocket-Protocol: " + message["subprotocol"].encode("latin-1"))
                    head += [bytes(name) + b": " + bytes(value) for name, value in message.get("headers", [])]
                    self.writer.write(b"\r\n".join(head) + b"\r\n\r\n")
                    await self.writer.drain()
                    reading = asyncio.get_running_loop().create_task(self._read(reader))
                    if PING_INTERVAL > 0:
                        self._pinging = asyncio.get_running_loop().create_task(self._ping())
                elif kind == "websocket.send" and self.closed:
                    raise OSError("the WebSocket is closed")  # as uvicorn's ClientDisconnected: a send loop must end
                elif kind == "websocket.send" and self.accepted:
                    if message.get("text") is not None:
                        await self._frame(0x1, message["text"].encode("utf-8"))
                    else:
                        await self._frame(0x2, bytes(message.get("bytes") or b""))
                elif kind == "websocket.close" and not self.closed:
                    if self.accepted:
                        code = message.get("code", 1000)
                        reason = (message.get("reason") or "").encode("utf-8")[:123]  # a control frame holds 125 bytes
                        await self._frame(0x8, code.to_bytes(2, "big") + reason)
                    else:
                        self.writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    self.closed = True
                elif kind == "websocket.http.response.start" and not self.accepted and not self.closed:
                    self._denial = [b"HTTP/1.1 %d %s" % (message["status"], _reason(message["status"]).encode())]
                    self._denial += [bytes(n) + b": " + bytes(v) for n, v in message.get("headers", [])]
                    self._denial_body = b""
                elif kind == "websocket.http.response.body" and not self.accepted and not self.closed:
                    self._denial_body += bytes(message.get("body", b""))
                    if not message.get("more_body", False):
                        self._denial.append(b"Content-Length: %d" % len(self._denial_body))
                        self.writer.write(b"\r\n".join(self._denial) + b"\r\n\r\n" + self._denial_body)
                        self.closed = True

            try:
                await self.app(self.scope, receive, send)
            except Exception as error:
                print("Exception in ASGI websocket app: %r" % (error,), file=sys.stderr)
                if not self.accepted and not self.closed:
                    self.writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                elif self.accepted and not self.closed:
                    await self._frame(0x8, (1011).to_bytes(2, "big"))
            if self.accepted and not self.closed:
                await self._frame(0x8, (1000).to_bytes(2, "big"))
            elif not self.accepted and not self.closed:
                # Returned without accepting or closing: the handshake is denied, as the spec says (403).
                self.writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            if reading is not None:
                reading.cancel()
            if self._pinging is not None:
                self._pinging.cancel()
            await self.writer.drain()
        except (ConnectionError, OSError) as error:
            print("WebSocket connection lost: %r" % (error,), file=sys.stderr)
        finally:
            self.sessions.discard(self)
            if self.writer is not None:
                self.writer.close()
            finished.put(None)

    async def going_away(self):
        if self.accepted and not self.closed:
            await self._close_with(1001)

    async def _frame(self, opcode, payload):
        async with self._write_lock:  # the app's sends, pongs and pings must not interleave their drains
            await self._write_frame(opcode, payload)

    async def _write_frame(self, opcode, payload):
        length = len(payload)
        if length < 126:
            head = bytes([0x80 | opcode, length])
        elif length < 65536:
            head = bytes([0x80 | opcode, 126]) + length.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 127]) + length.to_bytes(8, "big")
        self.writer.write(head + payload)
        await self.writer.drain()

    async def _read(self, reader):
        """Frames from the client (masked), reassembled into messages for receive(); pings answered."""
        parts, kind = [], None
        try:
            while True:
                first, second = await reader.readexactly(2)
                fin, opcode, length = first & 0x80, first & 0x0F, second & 0x7F
                # RFC 6455 5.1-5.5: clients mask every frame; no extension is negotiated, so no RSV bit; control
                # frames are short and whole; a continuation needs a message to continue; opcodes 3-7 and B-F are reserved.
                if (first & 0x70 or not second & 0x80 or opcode not in (0x0, 0x1, 0x2, 0x8, 0x9, 0xA)
                        or (opcode >= 0x8 and (not fin or length > 125)) or (opcode == 0x0 and kind is None)
                        or (opcode in (0x1, 0x2) and parts)):
                    await self._close_with(1002)
                    return
                if length == 126:
                    length = int.from_bytes(await reader.readexactly(2), "big")
                elif length == 127:
                    length = int.from_bytes(await reader.readexactly(8), "big")
                if length > MAX_MESSAGE:
                    await self._close_with(1009)
                    return
                mask = await reader.readexactly(4) if second & 0x80 else None
                payload = await reader.readexactly(length)
                if mask:
                    payload = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (length // 4 + 1))[:length], "big")).to_bytes(length, "big")
                if opcode == 0x8:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                    if len(payload) == 1 or (len(payload) >= 2 and not _valid_close_code(code)):
                        await self._close_with(1002)
                        return
                    if not self.closed:
                        await self._frame(0x8, payload[:2])
                        self.closed = True
                    await self.incoming.put({"type": "websocket.disconnect", "code": code})
                    return
                if opcode == 0x9:
                    await self._frame(0xA, payload)
                    continue
                if opcode == 0xA:
                    if self._pong is not None and not self._pong.done():
                        self._pong.set_result(None)
                    continue
                if opcode in (0x1, 0x2):
                    parts, kind = [payload], opcode
                else:
                    parts.append(payload)
                if sum(len(p) for p in parts) > MAX_MESSAGE:
                    await self._close_with(1009)
                    return
                if fin:
                    data = b"".join(parts)
                    event = {"type": "websocket.receive", "bytes": None, "text": None}
                    if kind == 0x1:
                        event["text"] = data.decode("utf-8")
                    else:
                        event["bytes"] = data
                    await self.incoming.put(event)
                    parts, kind = [], None
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            await self.incoming.put({"type": "websocket.disconnect", "code": 1006})
        except UnicodeDecodeError:
            await self._close_with(1007)

    async def _ping(self):
        """websocket_ping_interval: a ping now and then; no pong within websocket_ping_timeout closes with 1011."""
        try:
            while not self.closed:
                await asyncio.sleep(PING_INTERVAL)
                if self.closed:
                    return
                self._pong = asyncio.get_running_loop().create_future()
                await self._frame(0x9, b"gunicorn-net")
                try:
                    await asyncio.wait_for(self._pong, PING_TIMEOUT)
                except asyncio.TimeoutError:
                    await self._close_with(1011)
                    self.writer.close()
                    return
        except (ConnectionError, OSError):
            return

    async def _close_with(self, code):
        if not self.closed:
            await self._frame(0x8, code.to_bytes(2, "big"))
            self.closed = True
        await self.incoming.put({"type": "websocket.disconnect", "code": code})


def load(app, loop_kind, lifespan, grace, root_path, websocket_limits):
    """The WSGI callable the worker serves, over the ASGI app `app` (already imported by the runner)."""
    global MAX_MESSAGE, PING_INTERVAL, PING_TIMEOUT
    max_message, ping_interval, ping_timeout = websocket_limits.split()
    MAX_MESSAGE, PING_INTERVAL, PING_TIMEOUT = int(max_message), float(ping_interval), float(ping_timeout)
    return Bridge(app, loop_kind, lifespan, float(grace), root_path)
