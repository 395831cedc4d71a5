"""The servers under test. Each setup starts its processes here, on a loopback port and Unix sockets in its own
temporary directory, answers on self.url, and is stopped by the pids it started."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile

from measure import free_port, tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APPS = os.path.join(ROOT, "bench", "apps")
# The native executables (scripts/publish.sh), and the same master as a JIT build with the native worker beside it:
# the master is long-lived, so whether dynamic PGO would pay for its JIT is measured, not assumed.
BINARY = os.path.join(ROOT, "out", "gunicorn-net", "gunicorn-net")
JIT_BINARY = os.path.join(ROOT, "out", "gunicorn-net-jit", "gunicorn-net")
ASPNET_APP = os.path.join(ROOT, "out", "sample-aspnet", "SampleApp.dll")
# Both ASP.NET setups log warnings only, like the other setups (no access log anywhere).
QUIET_ASPNET = {"Logging__LogLevel__Default": "Warning", "ASPNETCORE_ENVIRONMENT": "Production"}


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return None


class Setup:
    name = "setup"
    headers = ()  # request headers wrk sends, e.g. Accept-Encoding for the compression scenarios

    def __init__(self, path="/"):
        self.processes = []
        self.tmp = tempfile.mkdtemp(prefix="gunicorn-net-bench-")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d%s" % (self.port, path)

    def start(self, argv, log, env=None, cwd=None):
        self.processes.append(subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.tmp, log), "w"), cwd=cwd or self.tmp,
            env=dict(os.environ, **(env or {}))))

    def pids(self):
        return [p for proc in self.processes for p in tree(proc.pid)]

    def front_pids(self):
        """The processes doing the front tier's work (nginx's role), for the front's CPU per request."""
        return []

    def stop(self):
        # The whole tree: a worker that outlives its master (uvicorn's, holding WebSockets) must not stay behind.
        started = {pid: _cmdline(pid) for proc in self.processes for pid in tree(proc.pid)}
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for pid, cmdline in started.items():
            if cmdline and _cmdline(pid) == cmdline:  # still ours, not a reused pid
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.tmp, ignore_errors=True)


class Ours(Setup):
    name = "gunicorn-net"

    def __init__(self, app, workers, path="/", config="", env=None, binary=BINARY):
        super().__init__(path)
        if binary != BINARY:
            self.name = "gunicorn-net (JIT master)"
        # No access log unless the config asks: like the references (nginx access_log off, gunicorn none).
        config_file = os.path.join(self.tmp, "gunicorn.yaml")
        with open(config_file, "w") as f:
            f.write(config)
        self.control_socket = os.path.join(self.tmp, "ctl.sock")
        self.start([binary, "-c", config_file, "-w", str(workers), "-b", "127.0.0.1:%d" % self.port,
                    "--control-socket", self.control_socket,
                    "--python", "/usr/bin/python3", "--chdir", APPS, "--log-level", "warning", app],
                   "error.log", env)

    def allocated_bytes(self):
        """The master's managed allocations in its life (ctl status), to count the front's bytes per request."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(self.control_socket)
            s.sendall(b'{"command":"status"}\n')
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        return json.loads(reply)["masterAllocatedBytes"]

    def front_pids(self):
        return [self.processes[0].pid]  # the master: Kestrel + YARP front and the arbiter (idle under load)

    def master_pids(self):
        return [self.processes[0].pid]

    def reload(self):
        self.processes[0].send_signal(signal.SIGHUP)

    def worker_pids(self):
        return [p for p in tree(self.processes[0].pid) if p != self.processes[0].pid]


NGINX_HTTP = """
worker_processes auto; pid %(tmp)s/nginx.pid; error_log %(tmp)s/nginx-error.log; daemon off;
events { worker_connections 1024; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_timeout 65;
  %(http_extra)s
  client_body_temp_path %(tmp)s; proxy_temp_path %(tmp)s; fastcgi_temp_path %(tmp)s; uwsgi_temp_path %(tmp)s;
  scgi_temp_path %(tmp)s;
  %(upstream)s
  server {
    listen 127.0.0.1:%(port)d;
    %(locations)s
  }
}
"""


class Nginx(Setup):
    """nginx alone (static files) or in front of gunicorn."""
    name = "nginx"

    def start_nginx(self, upstream, locations, http_extra=""):
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_HTTP % {"tmp": self.tmp, "port": self.port, "upstream": upstream, "locations": locations,
                                  "http_extra": http_extra})
        self.start(["/usr/sbin/nginx", "-c", conf, "-p", self.tmp], "nginx.log")
        self.nginx = self.processes[-1]

    def front_pids(self):
        return tree(self.nginx.pid)

    def master_pids(self):
        """nginx's processes and gunicorn's arbiter: what runs besides the workers."""
        return tree(self.nginx.pid) + [p.pid for p in self.processes if p is not self.nginx]

    def reload(self):
        for proc in self.processes:
            proc.send_signal(signal.SIGHUP)  # gunicorn's HUP and nginx -s reload

    def worker_pids(self):
        gunicorn = [p for p in self.processes if p is not self.nginx]
        return [w for g in gunicorn for w in tree(g.pid) if w != g.pid]


class NginxGunicorn(Nginx):
    name = "nginx+gunicorn"

    def __init__(self, app, workers, path="/", env=None, worker_class=None, websocket=False):
        super().__init__(path)
        if worker_class:
            self.name = "nginx+gunicorn (%s)" % worker_class.rsplit(".", 1)[-1]
        sock = os.path.join(self.tmp, "gunicorn.sock")
        extra = ["-k", worker_class] if worker_class else []
        self.start(["/usr/bin/gunicorn", "-w", str(workers), "-b", "unix:" + sock, "--chdir", APPS, *extra, app],
                   "gunicorn.log", env)
        # WebSockets through nginx, as its documentation configures them: Upgrade passed on, Connection from a map.
        connection = "$connection_upgrade" if websocket else '""'
        upgrade = " proxy_set_header Upgrade $http_upgrade;" if websocket else ""
        self.start_nginx("upstream app { server unix:%s; keepalive 32; }" % sock,
                         'location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection %s;%s'
                         ' proxy_set_header Host $host;'
                         ' proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }' % (connection, upgrade),
                         "map $http_upgrade $connection_upgrade { default upgrade; '' ''; }" if websocket else "")


class NginxStatic(Nginx):
    def __init__(self, root, path, gzip_level=0):
        super().__init__(path)
        if gzip_level:
            self.name = "nginx gzip %d" % gzip_level
            self.headers = ("Accept-Encoding: gzip",)
        self.start_nginx("", "location /static/ { alias %s/; }" % root,
                         "gzip on; gzip_comp_level %d; gzip_types text/html;" % gzip_level if gzip_level else "")


class OursStatic(Ours):
    def __init__(self, root, path, gzip_level=0, cache=True, binary=BINARY, front_threads=None):
        config = "static:\n  /static: %s\n" % root
        if front_threads:
            # nginx runs worker_processes auto (one per core) here: the same number of event threads.
            config += "front_threads: %d\n" % front_threads
        if gzip_level:
            config += "gzip: true\ngzip_comp_level: %d\ncompression_cache_size: %s\n" % (gzip_level, "64m" if cache else "0")
        super().__init__("@hello", 1, path, config=config, binary=binary)
        if gzip_level:
            self.name = "gunicorn-net gzip %d%s" % (gzip_level, " cached" if cache else "")
            self.headers = ("Accept-Encoding: gzip",)
        if front_threads:
            self.name += " (front_threads %d)" % front_threads


class BareKestrel(Setup):
    name = "bare Kestrel"

    def __init__(self, path="/"):
        super().__init__(path)
        self.start(["dotnet", ASPNET_APP, "--urls", "http://127.0.0.1:%d" % self.port], "kestrel.log",
                   QUIET_ASPNET)
