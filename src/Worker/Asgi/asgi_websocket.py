"""RFC 6455 for gunicorn-net's asgi worker: a WebSocket session on the worker's event loop, over a duplicate of the
connection the worker handed over, driven by the app's ASGI websocket scope (connect, accept, receive, send, close).
Loaded beside asgi_server.py, which creates a session for each upgrade."""
import asyncio
import base64
import hashlib
import http
import socket
import sys

def _valid_handshake(key, version):
    try:
        return version.strip() == "13" and len(base64.b64decode(key.strip(), validate=True)) == 16
    except ValueError:
        return False


def _valid_close_code(code):
    """RFC 6455 7.4: the codes a peer may send (1004-1006 and 1015 are never sent; 1016-2999 are reserved)."""
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) or 3000 <= code <= 4999


def reason(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""



def configure(max_message, ping_interval, ping_timeout):
    """websocket_max_message_size, websocket_ping_interval, websocket_ping_timeout."""
    global MAX_MESSAGE, PING_INTERVAL, PING_TIMEOUT
    MAX_MESSAGE, PING_INTERVAL, PING_TIMEOUT = max_message, ping_interval, ping_timeout


# websocket_max_message_size, websocket_ping_interval, websocket_ping_timeout (set by load()).
MAX_MESSAGE = 16 * 1024 * 1024
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Bytes a session may have buffered for a slow client before its sends wait (asyncio's own default high-water mark).
_HIGH_WATER = 64 * 1024


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
                    self._denial = [b"HTTP/1.1 %d %s" % (message["status"], reason(message["status"]).encode())]
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
        """One frame, in one write (so frames never interleave); the sender waits only when the client reads slower
        than it is written to (more than _HIGH_WATER buffered), not after every frame."""
        if self.writer.transport.is_closing():
            raise ConnectionResetError("the WebSocket connection is closed")
        length = len(payload)
        if length < 126:
            head = bytes((0x80 | opcode, length))
        elif length < 65536:
            head = bytes((0x80 | opcode, 126)) + length.to_bytes(2, "big")
        else:
            head = bytes((0x80 | opcode, 127)) + length.to_bytes(8, "big")
        self.writer.write(head + payload)
        if self.writer.transport.get_write_buffer_size() > _HIGH_WATER:
            async with self._write_lock:  # the app's sends, pongs and pings wait for the same drain
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
                rest = await reader.readexactly(4 + length)  # the mask (every client frame has one) and the payload
                mask, payload = rest[:4], rest[4:]
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
