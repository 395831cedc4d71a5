"""gunicorn-style hooks (the same code works in a gunicorn.conf.py): each appends a line to HOOK_RECORD."""
import os


def _record(line):
    with open(os.environ["HOOK_RECORD"], "a") as f:
        f.write(line + "\n")


def post_fork(server, worker):
    _record("post_fork %d %d" % (worker.pid, server.pid))


def post_worker_init(worker):
    _record("post_worker_init %d" % worker.pid)


def pre_request(worker, req):
    _record("pre_request %s %s" % (req.method, req.path))


def post_request(worker, req, environ, resp):
    _record("post_request %s %d %d" % (req.path, resp.status_code, resp.sent))


def worker_exit(server, worker):
    _record("worker_exit %d" % worker.pid)
