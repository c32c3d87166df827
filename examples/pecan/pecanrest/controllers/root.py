"""The REST API of the example service: a collection of deployments, as in seed 000 (a
service that takes requests from clients and deploys cloud apps)."""

import itertools
import threading

import pecan
from pecan import expose, response
from pecan.rest import RestController

_lock = threading.Lock()
_ids = itertools.count(1)
_deployments = {}


class DeploymentsController(RestController):
    @expose("json")
    def get_all(self):
        with _lock:
            return {"deployments": sorted(_deployments.values(), key=lambda d: d["id"])}

    @expose("json")
    def get_one(self, deployment_id):
        with _lock:
            deployment = _deployments.get(int(deployment_id))
        if deployment is None:
            pecan.abort(404)
        return deployment

    @expose("json")
    def post(self):
        body = pecan.request.json
        with _lock:
            deployment = {"id": next(_ids), "app": body["app"], "state": "deploying"}
            _deployments[deployment["id"]] = deployment
        response.status = 201
        return deployment

    @expose("json")
    def put(self, deployment_id):
        body = pecan.request.json
        with _lock:
            deployment = _deployments.get(int(deployment_id))
            if deployment is None:
                pecan.abort(404)
            deployment.update(state=body["state"])
            return dict(deployment)


class ErrorController:
    """The error pages named in config.py's "errors"; Pecan keeps the original status."""

    @expose("json")
    def _default(self, status, *remainder):
        return {"error": int(status)}


class RootController:
    deployments = DeploymentsController()
    error = ErrorController()

    @expose("json")
    def index(self):
        return {"service": "pecanrest", "resources": ["deployments"]}
