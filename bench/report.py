"""docs/benchmarks.md and its charts from one run's results (bench/results/latest.json)."""
import os
import statistics

from setups import ROOT

DOCS = os.path.join(ROOT, "docs")


def median(rows, key):
    values = [r[key] for r in rows if key in r]
    return statistics.median(values) if values else float("nan")


def ratio(data, scenario, key):
    s = data["scenarios"].get(scenario)
    return median(s["ours"], key) / median(s["reference"], key) if s else float("nan")


def targets(data):
    """(target, measured, met) for each target of the benchmark issue that this run measured."""
    rows = []

    def check(label, value, met, shown):
        if value == value:  # not NaN: the scenario ran
            rows.append((label, shown % value, "met" if met(value) else "**missed**"))

    check("static 1 KiB: req/s >= 1.0x nginx", ratio(data, "static-1k", "rps"), lambda v: v >= 1.0, "%.2fx")
    check("static 1 MiB: MiB/s >= 1.0x nginx", ratio(data, "static-1m", "mib_per_s"), lambda v: v >= 1.0, "%.2fx")
    check("static 1 MiB: CPU/request <= 1.2x nginx's", ratio(data, "static-1m", "cpu_us_per_request"), lambda v: v <= 1.2,
          "%.2fx")
    check("100 KiB HTML, gzip level 6 on the fly: req/s >= 0.8x nginx", ratio(data, "gzip-100k", "rps"),
          lambda v: v >= 0.8, "%.2fx")
    check("100 KiB HTML, gzip level 6 with the compressed cache: req/s >= 1.0x nginx", ratio(data, "gzip-100k-cached", "rps"),
          lambda v: v >= 1.0, "%.2fx")
    check("pure WSGI hello: req/s >= 2.0x nginx+gunicorn", ratio(data, "wsgi-hello", "rps"), lambda v: v >= 2.0,
          "%.2fx")
    check("Flask hello: req/s >= 1.3x nginx+gunicorn", ratio(data, "flask-hello", "rps"), lambda v: v >= 1.3, "%.2fx")
    check("FastAPI hello: req/s >= 1.3x nginx+gunicorn (uvicorn workers)", ratio(data, "fastapi-hello", "rps"),
          lambda v: v >= 1.3, "%.2fx")
    check("FastAPI hello: p99 not above nginx+gunicorn's (uvicorn workers)", ratio(data, "fastapi-hello", "p99_ms"),
          lambda v: v <= 1.0, "%.2fx")
    check("WebSocket echo, 100 connections, 1 KiB: messages/s >= 1.0x nginx+gunicorn (uvicorn workers)",
          ratio(data, "websocket-echo", "rps"), lambda v: v >= 1.0, "%.2fx")
    check("ASP.NET Core hello: req/s >= 0.5x bare Kestrel", ratio(data, "aspnet-hello", "rps"), lambda v: v >= 0.5,
          "%.2fx")
    # The front data path: the front's own cost per proxied request against nginx's, in the same run.
    for scenario, label in (("wsgi-hello", "pure WSGI hello"), ("flask-hello", "Flask hello")):
        check("front data path, %s: front CPU/request <= 1.5x nginx's" % label,
              ratio(data, scenario, "front_cpu_us_per_request"), lambda v: v <= 1.5, "%.2fx")
        s = data["scenarios"].get(scenario)
        if s:
            check("front data path, %s: front context switches/request <= 0.5" % label,
                  median(s["ours"], "front_switches_per_request"), lambda v: v <= 0.5,
                  "%%.2f (nginx %.2f)" % median(s["reference"], "front_switches_per_request"))
            check("front data path, %s: p99 not above nginx+gunicorn's" % label, ratio(data, scenario, "p99_ms"),
                  lambda v: v <= 1.0, "%.2fx")
    check("front data path: pure WSGI hello req/s >= 1.5x nginx+gunicorn", ratio(data, "wsgi-hello", "rps"),
          lambda v: v >= 1.5, "%.2fx")
    check("front data path: Flask hello req/s >= 1.1x nginx+gunicorn", ratio(data, "flask-hello", "rps"),
          lambda v: v >= 1.1, "%.2fx")
    check("front data path: ASP.NET Core hello req/s >= 0.4x bare Kestrel", ratio(data, "aspnet-hello", "rps"),
          lambda v: v >= 0.4, "%.2fx")
    wsgi = data["scenarios"].get("wsgi-hello")
    if wsgi:
        check("front data path: managed bytes allocated per proxied hello < 1 KB",
              median(wsgi["ours"], "front_bytes_allocated_per_request"), lambda v: v < 1024, "%.0f B")
    check("Flask, 5 workers: PSS <= 1.5x nginx+gunicorn", ratio(data, "flask-hello", "pss_kib"), lambda v: v <= 1.5,
          "%.2fx")
    flask = data["scenarios"].get("flask-hello")
    if flask:
        check("startup with 5 workers (Flask): first 200 <= 0.5 s", median(flask["ours"], "startup_s"),
              lambda v: v <= 0.5, "%.2f s")
        check("Flask, 5 workers: master alone <= 40 MiB PSS", median(flask["ours"], "master_pss_kib") / 1024,
              lambda v: v <= 40, "%.1f MiB")
        check("Flask: each worker <= 1.3x the PSS of a gunicorn worker", ratio(data, "flask-hello", "worker_pss_kib"),
              lambda v: v <= 1.3, "%.2fx")
        check("Flask: req/s in the first 3 s >= 0.8x steady state",
              median(flask["ours"], "cold_rps") / median(flask["ours"], "rps"), lambda v: v >= 0.8, "%.2fx")
    check("Flask: native master req/s >= 1.0x the JIT master", ratio(data, "flask-master-jit", "rps"),
          lambda v: v >= 1.0, "%.2fx")
    if "gunicorn-net" in data.get("switches", {}):
        check("HUP of 5 WSGI workers under load: new code serves within 1.5 s",
              statistics.median(data["switches"]["gunicorn-net"]["switch_s"]), lambda v: v <= 1.5, "%.2f s")
    if "gunicorn-net" in data["reloads"]:
        check("reload under load: 0 failed requests", data["reloads"]["gunicorn-net"]["failed"], lambda v: v == 0,
              "%d failed")
    return rows


def tables(data):
    lines = [
        "# Benchmarks",
        "",
        "> Generated by `bench/run.sh` on %s: gunicorn-net against its reference on the same machine in the same run,"
        % data["date"],
        "> %d rounds of %d s per setup (after a %d s warm-up) in alternating order, medians; `wrk -t2 -c32`; %d sync"
        % (data["rounds"], data["seconds"], data.get("warmup", 2), data["workers"]),
        "> workers for the WSGI scenarios, 2 workers for ASP.NET Core, 1 for static files. Machine load (1/5/15 min) before: %s, after: %s."
        % ("/".join("%.2f" % x for x in data["load_before"]), "/".join("%.2f" % x for x in data["load_after"])),
    ]
    # Scenarios measured again after the full run (`ONLY=... bench/bench.py`), newest last; the tables show the newest.
    for rerun in data.get("reruns") or ([data["rerun"]] if data.get("rerun") else []):
        lines.append("> Rerun on %s (`ONLY=... bench/bench.py`, same rounds, both setups again): %s;"
                     " machine load before: %s, after: %s." % (rerun.get("build", "the final build of this round"),
                     ", ".join(rerun["scenarios"]),
                     "/".join("%.2f" % x for x in rerun["load_before"]), "/".join("%.2f" % x for x in rerun["load_after"])))
    lines += [
        "> CPU/request is the CPU time of the server's process tree divided by requests (the stable figure on a busy",
        "> 2-core machine); front CPU/request counts only the front: our master, or nginx's processes.",
        "",
        "![requests per second, ours against the reference](benchmarks-throughput.png)",
        "![CPU per request, ours against the reference](benchmarks-cpu.png)",
        "",
        "## Targets",
        "",
        "| target | this run | |",
        "| --- | ---: | --- |",
    ]
    lines += ["| %s | %s | %s |" % row for row in targets(data)]
    lines += [
        "",
        "## Measurements",
        "",
        "| scenario | setup | req/s | first 3 s req/s | MiB/s | p50 ms | p99 ms | CPU us/req | front CPU us/req"
        " | front context switches/req | front syscalls/req | front bytes allocated/req | RSS MiB | PSS MiB | master PSS | PSS per worker | startup s | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario, s in data["scenarios"].items():
        for role in ("ours", "reference"):
            rows = s[role]
            front = median(rows, "front_cpu_us_per_request")
            master, worker = median(rows, "master_pss_kib") / 1024, median(rows, "worker_pss_kib") / 1024
            switches, syscalls = median(rows, "front_switches_per_request"), median(rows, "front_syscalls_per_request")
            allocated = median(rows, "front_bytes_allocated_per_request")
            lines.append("| %s | %s | %.0f | %.0f | %.1f | %.2f | %.2f | %.1f | %s | %s | %s | %s | %.1f | %.1f | %s | %s | %.2f | %d |" % (
                scenario, rows[0]["setup"], median(rows, "rps"), median(rows, "cold_rps"), median(rows, "mib_per_s"),
                median(rows, "p50_ms"), median(rows, "p99_ms"), median(rows, "cpu_us_per_request"),
                "%.1f" % front if front == front else "-",
                "%.2f" % switches if switches == switches else "-", "%.1f" % syscalls if syscalls == syscalls else "-",
                "%.0f" % allocated if allocated == allocated else "-", median(rows, "rss_kib") / 1024,
                median(rows, "pss_kib") / 1024, "%.1f" % master if master == master else "-",
                "%.1f" % worker if worker == worker else "-", median(rows, "startup_s"), sum(r["errors"] for r in rows)))
    lines += ["", "Ratios (ours / reference; above 1 is better for req/s and CPU efficiency, below 1 for memory):", "",
              "| scenario | req/s | CPU efficiency (reference CPU/req / ours) | PSS |", "| --- | ---: | ---: | ---: |"]
    for scenario, s in data["scenarios"].items():
        lines.append("| %s | %.2fx | %.2fx | %.2fx |" % (
            scenario, ratio(data, scenario, "rps"),
            median(s["reference"], "cpu_us_per_request") / median(s["ours"], "cpu_us_per_request"),
            ratio(data, scenario, "pss_kib")))
    if data["reloads"]:
        lines += ["", "Reload under load (5 reloads 3 s apart, `wrk -c16`; gunicorn's HUP and `nginx -s reload` for "
                  "the reference):", "", "| setup | requests | failed |", "| --- | ---: | ---: |"]
        for name, r in data["reloads"].items():
            lines.append("| %s | %d | %d |" % (name, r["requests"], r["failed"]))
    if data.get("switches"):
        lines += ["", "Reload to new code under load (HUP with `wrk -c16` running; seconds from the signal to the first "
                  "response from a new worker, 3 reloads):", "", "| setup | seconds | failed requests |",
                  "| --- | --- | ---: |"]
        for name, r in data["switches"].items():
            lines.append("| %s | %s | %d |" % (name, ", ".join("%.2f" % t for t in r["switch_s"]), r["failed"]))
    return "\n".join(lines) + "\n"


def chart(data, key, title, ylabel, filename):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(data["scenarios"])
    ours = [median(data["scenarios"][n]["ours"], key) for n in names]
    reference = [median(data["scenarios"][n]["reference"], key) for n in names]
    fig, ax = plt.subplots(figsize=(8, 4))
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], ours, 0.4, label="gunicorn-net")
    ax.bar([x + 0.2 for x in xs], reference, 0.4, label="reference (nginx / nginx+gunicorn / bare Kestrel)")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(DOCS, filename), dpi=80)
    plt.close(fig)


def write_report(data):
    with open(os.path.join(DOCS, "benchmarks.md"), "w") as f:
        f.write(tables(data))
        with open(os.path.join(ROOT, "bench", "analysis.md")) as analysis:
            f.write("\n" + analysis.read())
    chart(data, "rps", "Requests per second (median)", "req/s", "benchmarks-throughput.png")
    chart(data, "cpu_us_per_request", "Server CPU per request (median, lower is better)", "us",
          "benchmarks-cpu.png")
