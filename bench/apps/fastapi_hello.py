"""FastAPI hello for the ASGI benchmark: gunicorn-net -k asgi against nginx -> gunicorn -k uvicorn.workers.UvicornWorker."""
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
async def hello():
    return "Hello, World!\n"
