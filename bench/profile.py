#!/usr/bin/python3
"""Where the CPU goes in gunicorn-net under load: perf samples of the whole server process tree while wrk runs,
with .NET's perf maps so JIT-compiled methods have names. Writes bench/results/profile-SCENARIO.txt and prints the
summary (share by component, top syscalls, top methods) that docs/benchmarks.md quotes for each missed target.

Usage: bench/profile.py [wsgi-hello|flask-hello|aspnet-hello|static-1k|static-1m] (after bench/run.sh has built)."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import WORKERS, static_root  # noqa: E402
from measure import wait_for_200  # noqa: E402
from setups import ASPNET_APP, QUIET_ASPNET, ROOT, Ours, OursStatic  # noqa: E402

# Named JIT code for perf: perf maps, and no W^X double mapping (perf cannot attribute double-mapped code).
PERF_ENV = {"DOTNET_PerfMapEnabled": "1", "DOTNET_EnableWriteXorExecute": "0"}


def setup_for(scenario):
    if scenario.startswith("static"):
        return OursStatic(static_root(), "/static/%s.bin" % ("1k" if scenario == "static-1k" else "1m"))
    app = {"wsgi-hello": "hello:app", "flask-hello": "flask_hello:app", "aspnet-hello": ASPNET_APP}[scenario]
    workers = 2 if scenario == "aspnet-hello" else WORKERS
    return Ours(app, workers, env=dict(PERF_ENV, **(QUIET_ASPNET if scenario == "aspnet-hello" else {})))


def component(dso):
    if dso.startswith("[kernel"):
        return "kernel (syscalls, scheduler, TCP/Unix sockets)"
    if dso.startswith("[JIT]") or dso.endswith(".dll"):
        return ".NET managed code"
    if "libcoreclr" in dso:
        return ".NET runtime (GC, type system, thread pool)"
    if "libclrjit" in dso:
        return ".NET JIT compiler"
    if "python" in dso:
        return "CPython"
    return "other native (libc, ...)"


def report(data, sort, extra=()):
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "-g", "none", "--percent-limit", "0.3",
                          "--sort", sort, *extra], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(.*)$", line)
        if m and not line.startswith("#"):
            rows.append((float(m.group(1)), m.group(2).strip()))
    return rows


def main(scenario, seconds=8):
    setup = setup_for(scenario)
    if scenario.startswith("static"):
        setup.stop()
        setup = setup_for(scenario)
    try:
        wait_for_200(setup.url)
        subprocess.run(["wrk", "-t2", "-c32", "-d3s", setup.url], capture_output=True)
        data = os.path.join(tempfile.mkdtemp(prefix="gunicorn-net-perf-"), "perf.data")
        pids = ",".join(str(p) for p in setup.pids())
        perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-p", pids, "-o", data, "--", "sleep", str(seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load = subprocess.run(["wrk", "-t2", "-c32", "-d%ds" % seconds, setup.url], capture_output=True, text=True).stdout
        perf.wait()
    finally:
        setup.stop()
    shares = {}
    for percent, dso in report(data, "dso", ["--percent-limit", "0"]):
        shares[component(dso)] = shares.get(component(dso), 0) + percent
    lines = ["profile of %s (%s), %d s under wrk -t2 -c32" % (scenario, setup.name, seconds),
             re.search(r"Requests/sec:\s+\S+", load).group(0), "", "CPU by component:"]
    lines += ["  %5.1f%%  %s" % (v, k) for k, v in sorted(shares.items(), key=lambda kv: -kv[1])]
    lines += ["", "kernel entry points (children included):"]
    syscalls = report(data, "sym", ["--children"])
    lines += ["  %5.1f%%  %s" % (p, s.split()[-1]) for p, s in syscalls if re.search(r"__x64_sys_\w+$", s)][:8]
    lines += ["", "top methods (self):"]
    lines += ["  %5.1f%%  %s" % (p, re.sub(r"\s+", " ", s)[:150]) for p, s in report(data, "sym")[:30]]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "profile-%s.txt" % scenario), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "wsgi-hello")
