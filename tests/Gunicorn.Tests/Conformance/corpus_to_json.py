"""Turns the expected-outcome files of the gunicorn request corpus (NAME.py) into JSON for the C# suite.

The .py files import gunicorn names and call uri(); they are executed against small stand-ins so that no gunicorn
installation is needed. Output: a JSON list of {name, kind, settings, error, requests}.
"""
import base64
import json
import os
import sys
import types


class Config:
    def __init__(self):
        self.settings = {}

    def set(self, key, value):
        self.settings[key] = value


class _Errors(types.ModuleType):
    def __getattr__(self, name):
        # Every exception name resolves to a class of that name.
        return type(name, (Exception,), {})


def install_stand_ins():
    gunicorn = types.ModuleType("gunicorn")
    config = types.ModuleType("gunicorn.config")
    config.Config = Config
    http = types.ModuleType("gunicorn.http")
    errors = _Errors("gunicorn.http.errors")
    sys.modules.update({"gunicorn": gunicorn, "gunicorn.config": config, "gunicorn.http": http,
                        "gunicorn.http.errors": errors})


def to_text(value):
    return value.decode("latin-1") if isinstance(value, bytes) else value


def as_bytes(value):
    return value.encode("latin-1") if isinstance(value, str) else value


def convert(request):
    return {
        "method": request["method"],
        "uri": request["uri"],
        "version": list(request["version"]),
        "headers": [[to_text(n), to_text(v)] for n, v in request["headers"]],
        "body": base64.b64encode(as_bytes(request.get("body", b""))).decode("ascii"),
        "trailers": [[to_text(n), to_text(v)] for n, v in request.get("trailers", [])],
    }


def load(path):
    scope = {"uri": lambda raw: raw}
    with open(path, encoding="utf-8") as source:
        exec(compile(source.read(), path, "exec"), scope)
    request = scope["request"]
    settings = scope["cfg"].settings if "cfg" in scope else {}
    if isinstance(request, type):
        return {"error": request.__name__, "requests": [], "settings": settings}
    requests = request if isinstance(request, list) else [request]
    return {"error": None, "requests": [convert(r) for r in requests], "settings": settings}


def main(corpus):
    install_stand_ins()
    cases = []
    for kind in ("valid", "invalid"):
        folder = os.path.join(corpus, kind)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                case = load(os.path.join(folder, name))
                case.update({"name": f"{kind}/{name[:-3]}", "kind": kind})
                cases.append(case)
    json.dump(cases, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
