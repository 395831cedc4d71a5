#!/usr/bin/python3
"""Side-by-side benchmarks: gunicorn-net against nginx -> gunicorn (Debian packages), same machine, same run.

Every scenario runs against both setups in alternating order for several rounds; the medians go into
docs/benchmarks.md. Servers are started here on loopback ports and Unix sockets in a temporary directory and
stopped by pid. Server CPU per request (utime + stime of the server's process tree / requests) is the stable
figure on a busy 2-core machine; requests/s and latency come from wrk.
"""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APPS = os.path.join(ROOT, "bench", "apps")
BINARY = os.path.join(ROOT, "out", "gunicorn-net", "gunicorn-net")
CLOCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_200(url, deadline=30):
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


class Setup:
    """A server setup: one or more processes started here, answering on self.url."""

    def __init__(self, name):
        self.name = name
        self.processes = []
        self.tmp = tempfile.mkdtemp(prefix="gunicorn-net-bench-")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d/" % self.port

    def pids(self):
        return [p for proc in self.processes for p in tree(proc.pid)]

    def stop(self):
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Ours(Setup):
    def __init__(self, app, workers):
        super().__init__("gunicorn-net")
        # An empty config file: no access log, like the reference setup (nginx access_log off, gunicorn none).
        config = os.path.join(self.tmp, "gunicorn.yaml")
        open(config, "w").close()
        self.processes.append(subprocess.Popen(
            [BINARY, "-c", config, "-w", str(workers), "-b", "127.0.0.1:%d" % self.port, "--python", "/usr/bin/python3",
             "--chdir", APPS, "--log-level", "warning", app],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "error.log"), "w"), cwd=self.tmp))

    def reload(self):
        self.processes[0].send_signal(signal.SIGHUP)


class NginxGunicorn(Setup):
    def __init__(self, app, workers):
        super().__init__("nginx+gunicorn")
        sock = os.path.join(self.tmp, "gunicorn.sock")
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""
worker_processes auto; pid %(tmp)s/nginx.pid; error_log %(tmp)s/nginx-error.log; daemon off;
events { worker_connections 1024; }
http {
  access_log off; sendfile on; keepalive_timeout 65;
  client_body_temp_path %(tmp)s; proxy_temp_path %(tmp)s; fastcgi_temp_path %(tmp)s; uwsgi_temp_path %(tmp)s; scgi_temp_path %(tmp)s;
  upstream app { server unix:%(sock)s; keepalive 32; }
  server {
    listen 127.0.0.1:%(port)d;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
                 proxy_set_header Host $host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }
  }
}
""" % {"tmp": self.tmp, "sock": sock, "port": self.port})
        self.processes.append(subprocess.Popen(
            ["/usr/bin/gunicorn", "-w", str(workers), "-b", "unix:" + sock, "--chdir", APPS, app],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, "gunicorn.log"), "w")))
        self.processes.append(subprocess.Popen(["/usr/sbin/nginx", "-c", conf, "-p", self.tmp],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def reload(self):
        self.processes[0].send_signal(signal.SIGHUP)
        self.processes[1].send_signal(signal.SIGHUP)


def wrk(url, seconds, connections=32):
    out = subprocess.run(["wrk", "-t2", "-c%d" % connections, "-d%ds" % seconds, "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0

    def latency(label):
        m = re.search(r"%s\s+([\d.]+)(us|ms|s)" % label, out)
        value, unit = float(m.group(1)), m.group(2)
        return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    return {"requests": requests, "rps": requests / seconds, "p50_ms": latency("50%"), "p99_ms": latency("99%"),
            "errors": errors}


def measure(setup, seconds):
    startup = wait_for_200(setup.url)
    wrk(setup.url, 2)  # warm up
    pids = setup.pids()
    before = cpu_seconds(pids)
    result = wrk(setup.url, seconds)
    result["cpu_us_per_request"] = (cpu_seconds(setup.pids()) - before) * 1e6 / max(result["requests"], 1)
    result["rss_kib"], result["pss_kib"] = memory_kib(setup.pids())
    result["startup_s"] = startup
    return result


def reload_under_load(setup, reloads=5):
    wait_for_200(setup.url)
    load = subprocess.Popen(["wrk", "-t2", "-c16", "-d%ds" % (reloads * 3 + 2), setup.url],
                            stdout=subprocess.PIPE, text=True)
    for _ in range(reloads):
        time.sleep(3)
        setup.reload()
    out = load.communicate()[0]
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    failed = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests": requests, "failed": failed + (int(non2xx.group(1)) if non2xx else 0)}


def run(scenarios, rounds, seconds, workers):
    load_before = os.getloadavg()
    results = {}
    for scenario, app in scenarios:
        results[scenario] = {"gunicorn-net": [], "nginx+gunicorn": []}
        for round_number in range(rounds):
            order = [Ours, NginxGunicorn] if round_number % 2 == 0 else [NginxGunicorn, Ours]
            for kind in order:
                setup = kind(app, workers)
                try:
                    r = measure(setup, seconds)
                finally:
                    setup.stop()
                results[scenario][setup.name].append(r)
                print("%-12s %-15s round %d: %8.0f req/s  p99 %6.2f ms  %6.1f us CPU/req  PSS %6.1f MiB  errors %d"
                      % (scenario, setup.name, round_number + 1, r["rps"], r["p99_ms"], r["cpu_us_per_request"],
                         r["pss_kib"] / 1024, r["errors"]), flush=True)
    reloads = {}
    for kind in (Ours, NginxGunicorn):
        setup = kind("hello:app", workers)
        try:
            reloads[setup.name] = reload_under_load(setup)
        finally:
            setup.stop()
        print("reload       %-15s %s" % (setup.name, reloads[setup.name]), flush=True)
    return {"scenarios": results, "reloads": reloads, "load_before": load_before, "load_after": os.getloadavg(),
            "rounds": rounds, "seconds": seconds, "workers": workers}


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def report(data):
    lines = [
        "# Benchmarks",
        "",
        "> Generated by `bench/run.sh` on %s. gunicorn-net against nginx -> gunicorn (Debian packages) on the same"
        % time.strftime("%Y-%m-%d"),
        "> machine in the same run: %d rounds of %d s per setup, alternating order, medians; `wrk -t2 -c32`;"
        % (data["rounds"], data["seconds"]),
        "> %d sync workers. Machine load (1/5/15 min) before: %s, after: %s. CPU/request is the server process"
        % (data["workers"], "/".join("%.2f" % x for x in data["load_before"]), "/".join("%.2f" % x for x in data["load_after"])),
        "> tree's CPU time divided by requests: the stable figure on a busy 2-core machine.",
        "",
        "| scenario | setup | req/s | p50 ms | p99 ms | CPU us/req | RSS MiB | PSS MiB | startup s | errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ratios = []
    for scenario, setups in data["scenarios"].items():
        for name, rows in setups.items():
            lines.append("| %s | %s | %.0f | %.2f | %.2f | %.1f | %.1f | %.1f | %.2f | %d |" % (
                scenario, name, median(rows, "rps"), median(rows, "p50_ms"), median(rows, "p99_ms"),
                median(rows, "cpu_us_per_request"), median(rows, "rss_kib") / 1024, median(rows, "pss_kib") / 1024,
                median(rows, "startup_s"), sum(r["errors"] for r in rows)))
        ours, ref = setups["gunicorn-net"], setups["nginx+gunicorn"]
        ratios.append("| %s | %.2fx | %.2fx | %.2fx |" % (
            scenario, median(ours, "rps") / median(ref, "rps"),
            median(ref, "cpu_us_per_request") / median(ours, "cpu_us_per_request"),
            median(ours, "pss_kib") / median(ref, "pss_kib")))
    lines += ["", "Ratios (gunicorn-net / reference; above 1 is better for req/s and CPU efficiency, below 1 for memory):",
              "", "| scenario | req/s | CPU efficiency (ref CPU/req / ours) | PSS |", "| --- | ---: | ---: | ---: |"]
    lines += ratios
    lines += ["", "Reload under load (5 reloads, `wrk -c16`):", "", "| setup | requests | failed |", "| --- | ---: | ---: |"]
    for name, r in data["reloads"].items():
        lines.append("| %s | %d | %d |" % (name, r["requests"], r["failed"]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    rounds = int(os.environ.get("ROUNDS", "3"))
    seconds = int(os.environ.get("SECONDS_PER_RUN", "10"))
    data = run([("wsgi-hello", "hello:app"), ("flask-hello", "flask_hello:app")], rounds, seconds, workers=5)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "latest.json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(ROOT, "docs", "benchmarks.md"), "w") as f:
        f.write(report(data))
        with open(os.path.join(ROOT, "bench", "analysis.md")) as analysis:
            f.write("\n" + analysis.read())
    print("wrote docs/benchmarks.md")
