#!/usr/bin/python3
"""Where a proxied request's front CPU goes: perf samples of the master alone (the front) while wrk drives a pure-WSGI
hello through it, classified by component (Kestrel, our middlewares, YARP, the transport to the workers, System.Net,
the runtime, the kernel) and given in microseconds per request. Several binaries can be compared in one run (before
and after a change); the markdown table goes to stdout for docs/benchmarks.md.

Usage: bench/profile_front.py BINARY [BINARY...]   (native builds: symbols come from the .dbg beside each binary)"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import cpu_seconds, wait_for_200  # noqa: E402
from setups import Ours  # noqa: E402

# First match wins: more specific names first.
COMPONENTS = [
    ("the transport to the workers (Forwarding.Transport)", ("Gunicorn_Front_Forwarding_Transport",)),
    ("our middlewares and forwarding (Gunicorn.*)", ("Gunicorn_",)),
    ("YARP's forwarder", ("Yarp_",)),
    ("Polly (retry pipeline)", ("Polly",)),
    ("System.Net.Http (request/response messages, headers, SocketsHttpHandler)", ("System_Net_Http",)),
    ("Kestrel (connections, HTTP/1.1 parse, pipes)", ("Kestrel", "System_IO_Pipelines")),
    ("ASP.NET Core hosting and HTTP abstractions", ("Microsoft_AspNetCore", "Microsoft_Extensions", "Microsoft_Net_Http")),
    ("System.Net.Sockets", ("System_Net_Sockets", "SystemNative_")),
]
KERNEL = "kernel (syscalls, scheduler, wake-ups, TCP and Unix sockets)"
RUNTIME = "runtime (GC, allocation, async machinery, threads, libc)"


def classify(symbol, kernel):
    if kernel:
        return KERNEL
    for name, needles in COMPONENTS:
        if any(n in symbol for n in needles):
            return name
    return RUNTIME


def profile(binary, seconds=8):
    setup = Ours("hello:app", 5, binary=binary)
    try:
        wait_for_200(setup.url)
        subprocess.run(["wrk", "-t2", "-c32", "-d4s", setup.url], capture_output=True)
        master = setup.front_pids()
        data = os.path.join(tempfile.mkdtemp(prefix="gunicorn-net-perf-"), "perf.data")
        perf = subprocess.Popen(["perf", "record", "-F", "1999", "-p", str(master[0]), "-o", data, "--", "sleep", str(seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        before = cpu_seconds(master)
        load = subprocess.run(["wrk", "-t2", "-c32", "-d%ds" % seconds, setup.url], capture_output=True, text=True).stdout
        used = cpu_seconds(master) - before
        perf.wait()
    finally:
        setup.stop()
    requests = int(re.search(r"(\d+) requests in", load).group(1))
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "sym", "--percent-limit", "0"],
                         capture_output=True, text=True).stdout
    shares = {}
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+\[(k|\.)\]\s+(.*)$", line)
        if m:
            key = classify(m.group(3), m.group(2) == "k")
            shares[key] = shares.get(key, 0.0) + float(m.group(1))
    total = sum(shares.values()) or 1.0
    us_per_request = used * 1e6 / max(requests, 1)
    return us_per_request, requests / seconds, {k: v / total * us_per_request for k, v in shares.items()}


def main(binaries):
    results = [(b, *profile(b)) for b in binaries]
    names = [KERNEL] + [n for n, _ in COMPONENTS] + [RUNTIME]
    print("| component | " + " | ".join(os.path.basename(os.path.dirname(b)) for b, *_ in results) + " |")
    print("| --- |" + " ---: |" * len(results))
    for name in names:
        print("| %s | %s |" % (name, " | ".join("%.1f us" % r[3].get(name, 0.0) for r in results)))
    print("| **front CPU per proxied request** | %s |" % " | ".join("**%.1f us**" % r[1] for r in results))
    print("| requests/s during the profile | %s |" % " | ".join("%.0f" % r[2] for r in results))


if __name__ == "__main__":
    main(sys.argv[1:])
