"""A small Flask application: pages, a form, JSON and file uploads."""

import hashlib

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello from Flask!\n"


@app.post("/form")
def form():
    name = request.form.get("name", "")
    return f"Hello, {name}!\n"


@app.post("/json")
def echo_json():
    data = request.get_json()
    return jsonify(received=data, items=len(data) if hasattr(data, "__len__") else None)


@app.post("/upload")
def upload():
    files = {}
    for field, storage in request.files.items():
        content = storage.read()
        files[field] = {
            "filename": storage.filename,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
    return jsonify(files=files, fields=request.form.to_dict())


@app.get("/hello/<name>")
def hello(name):
    return jsonify(hello=name, script_name=request.script_root, path=request.path)
