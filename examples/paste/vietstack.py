"""Seed 004's WSGI application and middleware, wired together by PasteDeploy
(development.ini), the way OpenStack API services are built."""

import logging

from webob import Request, Response
from webob.dec import wsgify

log = logging.getLogger(__name__)


class MeetupApp:
    """The application: answers every request with the meetup greeting."""

    def __init__(self, greeting):
        self.greeting = greeting

    def __call__(self, environ, start_response):
        request = Request(environ)
        text = self.greeting + "\n"
        if request.environ.get("vietstack.checked"):
            text += "checked by the middleware\n"
        return Response(text=text, content_type="text/plain")(environ, start_response)


class MeetupMiddleware:
    """The middleware: marks the request, refuses DELETE, and tags the response."""

    def __init__(self, app, tag):
        self.app = app
        self.tag = tag

    @wsgify
    def __call__(self, request):
        if request.method == "DELETE":
            return Response(status=405, text="DELETE is not allowed here\n")
        request.environ["vietstack.checked"] = True
        log.info("middleware saw %s %s", request.method, request.path)
        response = request.get_response(self.app)
        response.headers["X-VietStack"] = self.tag
        return response


def app_factory(global_config, greeting="Hello"):
    return MeetupApp(greeting)


def filter_factory(global_config, tag="meetup"):
    def make_filter(app):
        return MeetupMiddleware(app, tag)

    return make_filter
