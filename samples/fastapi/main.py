"""A FastAPI sample for gunicorn-net's asgi worker (Debian: apt-get install python3-fastapi).

    gunicorn-net -w 2 -k asgi --chdir samples/fastapi main:app

The same command line a gunicorn + uvicorn deployment used (`-k uvicorn.workers.UvicornWorker`) works unchanged.
"""
import asyncio

from fastapi import BackgroundTasks, FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

app = FastAPI(title="gunicorn-net FastAPI sample")
events = []


class Item(BaseModel):
    name: str
    price: float


@app.on_event("startup")
async def startup():
    # Lifespan: runs once per worker before it reports ready (a failure here stops the worker from booting).
    app.state.greeting = "hello from FastAPI on gunicorn-net"


@app.get("/")
async def index():
    return {"message": app.state.greeting}


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}


@app.post("/items")
async def create_item(item: Item, background: BackgroundTasks):
    background.add_task(events.append, "created %s" % item.name)  # runs after the response is sent
    return {"name": item.name, "price_with_tax": round(item.price * 1.2, 2)}


@app.get("/events")
async def recent_events():
    return {"events": events[-10:]}


@app.get("/countdown")
async def countdown():
    async def lines():
        for i in range(5, 0, -1):
            yield "%d\n" % i
            await asyncio.sleep(0.2)
        yield "liftoff\n"
    return StreamingResponse(lines(), media_type="text/plain")


@app.websocket("/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text("echo: " + await websocket.receive_text())
    except WebSocketDisconnect:
        pass
