"""A Flask view returning JSON: routing, a request context and serialisation, as in an API."""

from flask import Flask, jsonify

application = Flask(__name__)


@application.get("/json")
def json_view():
    return jsonify(message="Hello, World!", items=list(range(10)), ok=True)
