#!/usr/bin/python3
"""Side-by-side benchmarks: gunicorn-net against its reference (nginx, nginx -> gunicorn, bare Kestrel), same
machine, same run.

Every scenario runs both setups in alternating order for several rounds; the medians and the ratios against the
issue's targets go into docs/benchmarks.md, with charts next to it. Server CPU per request (utime + stime of the
server's process tree / requests) is the stable figure on a busy 2-core machine; requests/s and latency come from wrk.
"""
import json
import os
import tempfile
import time

from measure import measure, measure_websocket, reload_switch_seconds, reload_under_load
from report import write_report
from setups import (ASPNET_APP, JIT_BINARY, QUIET_ASPNET, ROOT, BareKestrel, NginxGunicorn, NginxStatic, Ours,
                    OursStatic)

WORKERS = 5


def static_root():
    root = tempfile.mkdtemp(prefix="gunicorn-net-bench-static-")
    for name, size in (("1k.bin", 1024), ("1m.bin", 1024 * 1024)):
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(size))
    # A 100 KiB HTML page that compresses like real markup (repetitive tags, varying text).
    rows, i = [], 0
    while sum(len(r) for r in rows) < 100 * 1024:
        rows.append('<tr class="row-%d"><td>%d</td><td>item %x</td><td>%s</td></tr>\n' % (i % 7, i, i * 7919, "lorem ipsum " * (i % 5)))
        i += 1
    with open(os.path.join(root, "100k.html"), "w") as f:
        f.write("<html><body><table>\n" + "".join(rows) + "</table></body></html>\n")
    os.chmod(root, 0o755)
    return root


CORES = os.cpu_count() or 1


def scenarios(root):
    """(name, what the issue targets, our setup, the reference setup): the setups are factories, one per round."""
    return [
        # A front that serves files itself runs one event thread per core, as nginx's worker_processes auto does.
        ("static-1k", "req/s >= 1.0x nginx",
         lambda: OursStatic(root, "/static/1k.bin", front_threads=CORES), lambda: NginxStatic(root, "/static/1k.bin")),
        ("static-1m", "MiB/s >= 1.0x nginx",
         lambda: OursStatic(root, "/static/1m.bin", front_threads=CORES), lambda: NginxStatic(root, "/static/1m.bin")),
        ("gzip-100k", "req/s >= 0.8x nginx gzip_comp_level 6 (both compress every request)",
         lambda: OursStatic(root, "/static/100k.html", gzip_level=6, cache=False),
         lambda: NginxStatic(root, "/static/100k.html", gzip_level=6)),
        ("gzip-100k-cached", "req/s >= 1.0x nginx gzip_comp_level 6 (ours with its compressed cache)",
         lambda: OursStatic(root, "/static/100k.html", gzip_level=6),
         lambda: NginxStatic(root, "/static/100k.html", gzip_level=6)),
        ("wsgi-hello", "req/s >= 2.0x nginx+gunicorn",
         lambda: Ours("hello:app", WORKERS), lambda: NginxGunicorn("hello:app", WORKERS)),
        ("flask-hello", "req/s >= 1.3x nginx+gunicorn; PSS <= 1.5x; startup <= 1.5 s",
         lambda: Ours("flask_hello:app", WORKERS), lambda: NginxGunicorn("flask_hello:app", WORKERS)),
        ("fastapi-hello", "req/s >= 1.3x nginx+gunicorn with uvicorn workers, p99 not higher",
         lambda: Ours("fastapi_hello:app", WORKERS, config="worker_class: asgi\n"),
         lambda: NginxGunicorn("fastapi_hello:app", WORKERS, worker_class="uvicorn.workers.UvicornWorker")),
        # req/s here is echoed messages/s: 100 connections, each sending 1 KiB and waiting for its echo (ws_load.py).
        ("websocket-echo", "messages/s >= 1.0x nginx+gunicorn with uvicorn workers",
         lambda: Ours("ws_echo:app", WORKERS, config="worker_class: asgi\n"),
         lambda: NginxGunicorn("ws_echo:app", WORKERS, worker_class="uvicorn.workers.UvicornWorker", websocket=True)),
        ("aspnet-hello", "req/s >= 0.5x bare Kestrel",
         lambda: Ours(ASPNET_APP, 2, env=QUIET_ASPNET), lambda: BareKestrel()),
        # Not against nginx + gunicorn: the native master against the same master as a JIT build (native workers).
        ("flask-master-jit", "native master req/s >= 1.0x the JIT master",
         lambda: Ours("flask_hello:app", WORKERS), lambda: Ours("flask_hello:app", WORKERS, binary=JIT_BINARY)),
    ]


def run(rounds, seconds, warmup, only):
    load_before = os.getloadavg()
    root = static_root()
    results = {}
    for name, target, ours, reference in scenarios(root):
        if only and name not in only:
            continue
        results[name] = {"target": target, "ours": [], "reference": []}
        for round_number in range(rounds):
            order = [("ours", ours), ("reference", reference)]
            for role, factory in (order if round_number % 2 == 0 else order[::-1]):
                setup = factory()
                try:
                    r = (measure_websocket if name == "websocket-echo" else measure)(setup, seconds, warmup)
                finally:
                    setup.stop()
                r["setup"] = setup.name
                results[name][role].append(r)
                print("%-13s %-15s round %d: %8.0f req/s %8.1f MiB/s  p99 %6.2f ms  %6.1f us CPU/req  "
                      "front %5.1f us %4.2f cs %5.1f syscalls/req  PSS %6.1f MiB  errors %d" % (
                          name, setup.name, round_number + 1, r["rps"], r["mib_per_s"], r["p99_ms"],
                          r["cpu_us_per_request"], r.get("front_cpu_us_per_request", float("nan")),
                          r.get("front_switches_per_request", float("nan")),
                          r.get("front_syscalls_per_request", float("nan")), r["pss_kib"] / 1024, r["errors"]),
                      flush=True)
    reloads = {}
    if not only or "reload" in only:
        for factory in (lambda: Ours("hello:app", WORKERS), lambda: NginxGunicorn("hello:app", WORKERS)):
            setup = factory()
            try:
                reloads[setup.name] = reload_under_load(setup)
            finally:
                setup.stop()
            print("reload        %-15s %s" % (setup.name, reloads[setup.name]), flush=True)
    switches = {}
    if not only or "reload-switch" in only:
        stamp_file = os.path.join(tempfile.mkdtemp(prefix="gunicorn-net-bench-stamp-"), "stamp")
        for factory in (lambda: Ours("stamp:app", WORKERS, env={"BENCH_STAMP": stamp_file}),
                        lambda: NginxGunicorn("stamp:app", WORKERS, env={"BENCH_STAMP": stamp_file})):
            with open(stamp_file, "wb") as f:
                f.write(b"v0")
            setup = factory()
            try:
                switches[setup.name] = reload_switch_seconds(setup, stamp_file)
            finally:
                setup.stop()
            print("reload-switch %-15s %s" % (setup.name, switches[setup.name]), flush=True)
    return {"scenarios": results, "reloads": reloads, "switches": switches, "load_before": load_before, "load_after": os.getloadavg(),
            "rounds": rounds, "seconds": seconds, "warmup": warmup, "workers": WORKERS, "date": time.strftime("%Y-%m-%d")}


if __name__ == "__main__":
    only = [s for s in os.environ.get("ONLY", "").split(",") if s]
    data = run(int(os.environ.get("ROUNDS", "3")), int(os.environ.get("SECONDS_PER_RUN", "8")),
               int(os.environ.get("WARMUP_SECONDS", "15")), only)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "latest.json"), "w") as f:
        json.dump(data, f, indent=1)
    if not only:
        write_report(data)
        print("wrote docs/benchmarks.md and docs/benchmarks-*.png")
