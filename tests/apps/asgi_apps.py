"""ASGI apps for gunicorn-net's asgi worker tests: FastAPI (Debian's python3-fastapi), raw ASGI 3 and ASGI 2."""
import asyncio
import json
import os
import time

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

app = FastAPI()
_arrived = 0
_everyone = asyncio.Event()


@app.on_event("startup")
async def startup():
    app.state.started = "yes"


@app.on_event("shutdown")
async def shutdown():
    mark = os.environ.get("ASGI_SHUTDOWN_MARK")
    if mark:
        with open(mark, "w") as file:
            file.write("shutdown %d\n" % os.getpid())


@app.get("/items/{item_id}")
async def item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q, "started": app.state.started}


@app.post("/echo")
async def echo(request: Request):
    body = await request.body()
    return {"length": len(body), "root_path": request.scope["root_path"], "client": request.client.host,
            "path": request.url.path, "http_version": request.scope["http_version"]}


@app.get("/stream")
async def stream():
    async def chunks():
        for i in range(3):
            yield "chunk %d\n" % i
            await asyncio.sleep(0.01)
    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/together")
async def together(n: int):
    """Answers once n requests are in here at the same time: proof that one worker runs them concurrently."""
    global _arrived
    _arrived += 1
    if _arrived >= n:
        _everyone.set()
    await asyncio.wait_for(_everyone.wait(), timeout=20)
    return {"together": n}


@app.get("/fail")
async def fail():
    raise RuntimeError("the ASGI app failed on purpose")


@app.websocket("/ws")
async def ws(websocket: WebSocket):
    await websocket.accept(subprotocol="chat" if "chat" in websocket.scope["subprotocols"] else None)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close please":
                await websocket.close(code=4000, reason="asked to")
                return
            if message.get("text") is not None:
                await websocket.send_text("echo: " + message["text"])
            else:
                await websocket.send_bytes(message["bytes"][::-1])
    except WebSocketDisconnect:
        return


@app.websocket("/private")
async def private(websocket: WebSocket):
    await websocket.close(code=1008)  # before accept: the handshake is denied (403)


@app.get("/forever")
async def forever():
    """Streams until the client goes away; then records that the app heard http.disconnect (the file it names)."""
    async def lines():
        try:
            while True:
                yield "tick\n" * 100
                await asyncio.sleep(0.01)
        finally:
            mark = os.environ.get("ASGI_DISCONNECT_MARK")
            if mark:
                with open(mark, "w") as file:
                    file.write("stopped\n")
    return StreamingResponse(lines(), media_type="text/plain")


async def truncating(scope, receive, send):
    """Starts a response and returns before its last chunk: the client must not see a complete response."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"partial", "more_body": True})


async def failing_startup(scope, receive, send):
    """A raw ASGI 3 app whose lifespan startup fails (say, its database is unreachable)."""
    if scope["type"] == "lifespan":
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "database unreachable"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"never"})


class Asgi2:
    """An ASGI 2.0 double-callable app."""

    def __init__(self, scope):
        self.scope = scope

    async def __call__(self, receive, send):
        if self.scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 201, "headers": [(b"x-asgi", b"2")]})
        await send({"type": "http.response.body", "body": b"double callable"})


_disconnects = 0
_uploads = 0


async def probe(scope, receive, send):
    """A raw ASGI 3 app for what FastAPI hides: the scope as the worker builds it, a body read message by message, a
    file sent by path, and a handler that blocks the event loop (as a sync call in an async view does)."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/file":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/octet-stream")]})
        await send({"type": "http.response.pathsend", "path": scope["query_string"].decode()})
        return
    if path == "/out-of-order":
        await send({"type": "http.response.body", "body": b"a body before its head"})
        return
    global _disconnects, _uploads
    if path == "/until-disconnect":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"waiting\n", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass
        _disconnects += 1
        return
    if path == "/tasks":
        payload = {"tasks": len(asyncio.all_tasks()), "disconnects": _disconnects, "uploads": _uploads}
    elif path == "/upload":
        _uploads += 1
        total = messages = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                _disconnects += 1
                return
            total += len(message.get("body", b""))
            messages += 1
            if not message.get("more_body"):
                break
        payload = {"bytes": total, "messages": messages}
    elif path == "/block":
        time.sleep(float(scope["query_string"] or b"30"))
        payload = {}
    else:
        payload = {key: scope[key] for key in ("path", "method", "scheme", "http_version", "root_path", "server", "client")}
        payload.update(raw_path=scope["raw_path"].decode("latin-1"), query_string=scope["query_string"].decode("latin-1"),
                       headers=[[name.decode("latin-1"), value.decode("latin-1")] for name, value in scope["headers"]],
                       extensions=sorted(scope.get("extensions", {})))
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
