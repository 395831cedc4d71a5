#!/usr/bin/python3
"""WebSocket echo load for bench.py: CONNECTIONS clients, each sending one binary message of SIZE bytes and waiting
for its echo before the next, for SECONDS. Prints JSON: messages, seconds, p50_ms, p99_ms, errors.

Usage: ws_load.py PORT CONNECTIONS SECONDS SIZE. asyncio protocols and one pre-masked frame keep the client's own
cost per message small (it shares the machine with the servers it measures, the same for both).
"""
import asyncio
import json
import os
import sys
import time


class EchoClient(asyncio.Protocol):
    def __init__(self, frame, stats, deadline):
        self.frame = frame
        self.stats = stats
        self.deadline = deadline
        self.buffer = b""
        self.upgraded = False
        self.sent_at = 0.0
        self.transport = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")

    def send(self):
        self.sent_at = time.perf_counter()
        self.transport.write(self.frame)

    def data_received(self, data):
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.stats["errors"] += 1
                self.transport.close()
                return
            self.upgraded = True
            self.buffer = self.buffer[end + 4:]
            self.send()
        while len(self.buffer) >= 2:
            length = self.buffer[1] & 0x7F
            head = 2 + (2 if length == 126 else 8 if length == 127 else 0)
            if len(self.buffer) < head:
                return
            if length == 126:
                length = int.from_bytes(self.buffer[2:4], "big")
            elif length == 127:
                length = int.from_bytes(self.buffer[2:10], "big")
            if len(self.buffer) < head + length:
                return
            opcode = self.buffer[0] & 0x0F
            self.buffer = self.buffer[head + length:]
            if opcode != 0x2:
                continue  # a ping or anything else: not an echo
            now = time.perf_counter()
            self.stats["messages"] += 1
            self.stats["latencies"].append(now - self.sent_at)
            if now < self.deadline:
                self.send()
            else:
                self.transport.close()

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(None)


async def main(port, connections, seconds, size):
    mask = os.urandom(4)
    payload = os.urandom(size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big")
    frame = bytes([0x82]) + length + mask + masked
    stats = {"messages": 0, "errors": 0, "latencies": []}
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    deadline = started + seconds
    clients = []
    for _ in range(connections):
        try:
            _, client = await loop.create_connection(lambda: EchoClient(frame, stats, deadline), "127.0.0.1", port)
            clients.append(client)
        except OSError:
            stats["errors"] += 1
    await asyncio.wait([c.closed for c in clients], timeout=seconds + 10)
    elapsed = time.perf_counter() - started
    latencies = sorted(stats["latencies"]) or [0.0]
    print(json.dumps({"messages": stats["messages"], "seconds": elapsed, "errors": stats["errors"],
                      "p50_ms": latencies[len(latencies) // 2] * 1000, "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])))
