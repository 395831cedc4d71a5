"""Measuring servers from the outside: wrk load, CPU time and memory of a process tree, time to first 200."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

CLOCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_200(url, deadline=60):
    start = time.time()
    while time.time() - start < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.time() - start
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("no 200 from %s within %ss" % (url, deadline))


def tree(pid):
    """pid and all its descendants."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except OSError:
                pass
    result, todo = [], [pid]
    while todo:
        p = todo.pop()
        result.append(p)
        todo.extend(children.get(p, []))
    return result


def cpu_seconds(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except OSError:
            pass
    return total / CLOCK


def memory_kib(pids):
    rss = pss = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def parse_wrk(out):
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    return requests, errors


def wrk(url, seconds, connections=32, headers=()):
    out = subprocess.run(["wrk", "-t2", "-c%d" % connections, "-d%ds" % seconds, "--latency"]
                         + [arg for h in headers for arg in ("-H", h)] + [url],
                         capture_output=True, text=True, check=True).stdout
    requests, errors = parse_wrk(out)
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    mib_per_s = float(transfer.group(1)) * {"B": 1 / 1048576, "KB": 1 / 1024, "MB": 1, "GB": 1024}[transfer.group(2)]

    def latency(label):
        m = re.search(r"%s\s+([\d.]+)(us|ms|s)" % label, out)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    return {"requests": requests, "rps": requests / seconds, "p50_ms": latency("50%"), "p99_ms": latency("99%"),
            "mib_per_s": mib_per_s, "errors": errors}


COLD_SECONDS = 3
COUNT_SECONDS = 3


def count_kernel_events(pids):
    """Counts the syscalls and context switches of the given processes (every thread) with perf while the caller runs
    load; returns a function that stops counting and gives them per request. Context switches are what a
    proxied request costs most on a virtual machine (each one a hypervisor round trip), so they are reported beside
    CPU time. Empty when perf is missing or not permitted."""
    if not pids or not shutil.which("perf"):
        return lambda requests: {}
    out = tempfile.NamedTemporaryFile(prefix="gunicorn-net-perf-", delete=False).name
    proc = subprocess.Popen(["perf", "stat", "-x,", "-o", out, "-e", "raw_syscalls:sys_enter,context-switches",
                             "-p", ",".join(str(p) for p in pids)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(requests):
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        counts = {}
        with open(out) as f:
            for line in f:
                fields = line.strip().split(",")
                if len(fields) > 2 and fields[0].isdigit():
                    counts[fields[2]] = int(fields[0])
        os.unlink(out)
        result = {}
        if "raw_syscalls:sys_enter" in counts:
            result["front_syscalls_per_request"] = counts["raw_syscalls:sys_enter"] / requests
        if "context-switches" in counts:
            result["front_switches_per_request"] = counts["context-switches"] / requests
        return result
    return stop


def measure(setup, seconds, warmup):
    """Startup, then the first seconds of load (cold), a warm-up, and one measured wrk run with the CPU time of the
    server's process tree (steady state).

    The cold figure shows a warm-up cliff: a JIT recompiles hot code with profile data during the first seconds under
    load, so every restart, reload and recycle would pay a slow period that the steady figure hides."""
    startup = wait_for_200(setup.url)
    cold = wrk(setup.url, COLD_SECONDS, headers=setup.headers)
    wrk(setup.url, warmup, headers=setup.headers)
    pids = setup.pids()
    before = cpu_seconds(pids)
    front_before = cpu_seconds(setup.front_pids())
    allocated = getattr(setup, "allocated_bytes", None)
    allocated_before = allocated() if allocated else None
    result = wrk(setup.url, seconds, headers=setup.headers)
    requests = max(result["requests"], 1)
    if allocated_before is not None:
        result["front_bytes_allocated_per_request"] = (allocated() - allocated_before) / requests
    result["cpu_us_per_request"] = (cpu_seconds(setup.pids()) - before) * 1e6 / requests
    if setup.front_pids():
        result["front_cpu_us_per_request"] = (cpu_seconds(setup.front_pids()) - front_before) * 1e6 / requests
    result["rss_kib"], result["pss_kib"] = memory_kib(setup.pids())
    # Counted in a run of its own: tracing every syscall costs CPU, which must not show in the figure above.
    stop_counting = count_kernel_events(setup.front_pids())
    counted = wrk(setup.url, COUNT_SECONDS, headers=setup.headers)
    result.update(stop_counting(max(counted["requests"], 1)))
    return with_memory_and_start(result, setup, startup, cold)


def with_memory_and_start(result, setup, startup, cold):
    """The master's and each worker's PSS, the time to the first 200 and the cold figure, added to a measured run."""
    if hasattr(setup, "master_pids"):
        result["master_pss_kib"] = memory_kib(setup.master_pids())[1]
        workers = setup.worker_pids()
        result["worker_pss_kib"] = memory_kib(workers)[1] / max(len(workers), 1)
    result["startup_s"] = startup
    result["cold_rps"] = cold["rps"]
    return result


WS_LOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ws_load.py")


def ws_load(port, seconds, connections=100, size=1024):
    out = subprocess.run(["/usr/bin/python3", WS_LOAD, str(port), str(connections), str(seconds), str(size)],
                         capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    result = json.loads(out)
    result["rps"] = result["messages"] / result["seconds"]
    result["mib_per_s"] = result["rps"] * size * 2 / (1024 * 1024)
    return result


def measure_websocket(setup, seconds, warmup):
    """As measure(), for WebSocket echo: messages per second (in "rps"), CPU per message (in "cpu_us_per_request")."""
    startup = wait_for_200(setup.url)
    cold = ws_load(setup.port, COLD_SECONDS)
    ws_load(setup.port, warmup)
    before = cpu_seconds(setup.pids())
    front_before = cpu_seconds(setup.front_pids())
    result = ws_load(setup.port, seconds)
    messages = max(result["messages"], 1)
    result["cpu_us_per_request"] = (cpu_seconds(setup.pids()) - before) * 1e6 / messages
    if setup.front_pids():
        result["front_cpu_us_per_request"] = (cpu_seconds(setup.front_pids()) - front_before) * 1e6 / messages
    result["rss_kib"], result["pss_kib"] = memory_kib(setup.pids())
    return with_memory_and_start(result, setup, startup, cold)


def reload_under_load(setup, reloads=5):
    wait_for_200(setup.url)
    load = subprocess.Popen(["wrk", "-t2", "-c16", "-d%ds" % (reloads * 3 + 2), setup.url],
                            stdout=subprocess.PIPE, text=True)
    for _ in range(reloads):
        time.sleep(3)
        setup.reload()
    requests, failed = parse_wrk(load.communicate()[0])
    return {"requests": requests, "failed": failed}


def reload_switch_seconds(setup, stamp_file, reloads=3):
    """Seconds from the reload signal to the first response from new code, under load, for each of `reloads` HUPs.

    The app answers with the stamp file's contents as read at import, so a new answer means a new worker serves."""
    wait_for_200(setup.url)
    load = subprocess.Popen(["wrk", "-t2", "-c16", "-d%ds" % (reloads * 6 + 2), setup.url],
                            stdout=subprocess.PIPE, text=True)
    times = []
    for n in range(reloads):
        time.sleep(2)
        stamp = ("v%d" % (n + 1)).encode()
        with open(stamp_file, "wb") as f:
            f.write(stamp)
        start = time.time()
        setup.reload()
        while time.time() - start < 30:
            try:
                with urllib.request.urlopen(setup.url, timeout=5) as r:
                    if r.read() == stamp:
                        break
            except OSError:
                pass
            time.sleep(0.01)
        times.append(time.time() - start)
        time.sleep(2)  # the old generation retires before the next reload
    requests, failed = parse_wrk(load.communicate()[0])
    return {"switch_s": times, "requests": requests, "failed": failed}
