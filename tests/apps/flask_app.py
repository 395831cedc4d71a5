"""A small Flask app (Debian's python3-flask) used by the tests: a page and a form."""
from flask import Flask, request

app = Flask(__name__)


@app.route("/")
def index():
    return "<h1>Flask on gunicorn-net</h1>"


@app.route("/form", methods=["GET", "POST"])
def form():
    if request.method == "POST":
        return "Hello, %s!" % request.form.get("name", "stranger")
    return '<form method="post"><input name="name"><button>Send</button></form>'
