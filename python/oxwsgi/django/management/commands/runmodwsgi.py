"""``manage.py runmodwsgi``: mod_wsgi-express's name for ``runoxwsgi``, so that a Procfile or
a Dockerfile written for mod_wsgi goes on working unchanged."""

from oxwsgi.django.management.commands.runoxwsgi import Command as RunOxwsgi


class Command(RunOxwsgi):
    help = RunOxwsgi.help + " (runmodwsgi is mod_wsgi-express's name for runoxwsgi)"
