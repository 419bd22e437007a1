"""The ceiling: a minimal Flask app answering a small JSON object, served by the same gunicorn
command and settings as the shop (`gunicorn --config gunicorn.conf.py benchmarks.ceiling_app:app`).
What the shop reaches is reported as a fraction of what this reaches on the same machine."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/hello")
def hello():
    """A small JSON object, nothing else."""
    return jsonify({"message": "hello", "ok": True})
