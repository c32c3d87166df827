"""``manage.py runoxwsgi [OPTION...]``: serves this Django project with the ``oxwsgi`` server.

It runs ``oxwsgi start-server`` in place of itself (exec: the process, and its pid, become the
server's), the way mod_wsgi-express's ``runmodwsgi`` runs Apache:

- the application is the module of ``WSGI_APPLICATION`` (``--application-type module``), its
  last part the callable;
- the working directory is ``BASE_DIR`` (else the directory above the settings' package);
- ``STATIC_URL`` is served from ``STATIC_ROOT`` (``--url-alias``), unless WhiteNoise serves the
  static files; run ``manage.py collectstatic`` first, this command does not;
- the Python is this one: its virtual environment is passed as ``--python-home``.

Every other option is ``oxwsgi start-server``'s, passed through as given (``--port 8080
--processes 4``; ``oxwsgi start-server --help`` lists them); one given here wins over what this
command would choose (``--working-directory``, ``--python-home``).
"""

import os
import sys

from django.core.management.base import BaseCommand, CommandError

# mod_wsgi-express leaves the static files to WhiteNoise when the project uses it.
WHITENOISE = "whitenoise.middleware.WhiteNoiseMiddleware"


def given(server_options, name):
    """Whether the option `name` (``--python-home``) is among the passed-through options."""
    return any(o == name or o.startswith(name + "=") for o in server_options)


def oxwsgi_command():
    """How to run oxwsgi: $OXWSGI_BIN when set (a binary built from source), else the
    ``oxwsgi`` command of the Python running this, next to it, else ``python -m oxwsgi``."""
    binary = os.environ.get("OXWSGI_BIN")
    if binary:
        return [binary]
    script = os.path.join(os.path.dirname(sys.executable), "oxwsgi")
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "oxwsgi"]


def working_directory(settings):
    """BASE_DIR, else the directory that holds the settings module's top package."""
    base_dir = getattr(settings, "BASE_DIR", None)
    if base_dir:
        return os.fspath(base_dir)
    package = os.environ["DJANGO_SETTINGS_MODULE"].split(".")[0]
    return os.path.dirname(os.path.dirname(os.path.abspath(sys.modules[package].__file__)))


def static_alias(settings):
    """``--url-alias STATIC_URL STATIC_ROOT`` when both are set, STATIC_URL is a path of this
    site (not another host's URL) and WhiteNoise does not serve them; else nothing."""
    middleware = getattr(settings, "MIDDLEWARE", None) or []
    static_url = str(getattr(settings, "STATIC_URL", None) or "")
    static_root = getattr(settings, "STATIC_ROOT", None)
    if WHITENOISE in middleware or not static_root or not static_url.startswith("/"):
        return []
    if static_url.startswith("//"):
        return []
    return ["--url-alias", static_url.rstrip("/") or "/", os.fspath(static_root)]


class Command(BaseCommand):
    help = (
        "Serves this project with the oxwsgi server: WSGI_APPLICATION as a module, STATIC_URL "
        "from STATIC_ROOT. Every option of `oxwsgi start-server --help` may be given "
        "(--port, --processes, --threads, ...); they are passed through."
    )
    def create_parser(self, prog_name, subcommand, **kwargs):
        """Django's parser, keeping the options it does not know for the server, in order."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # `--p` must not be taken for Django's --pythonpath: only whole names are Django's.
        parser.allow_abbrev = False
        parse_known_args = parser.parse_known_args

        def parse_args(args=None, namespace=None):
            options, server_options = parse_known_args(args, namespace)
            options.server_options = server_options
            return options

        parser.parse_args = parse_args
        return parser

    def handle(self, *args, server_options=(), **options):
        from django.conf import settings

        server_options = list(server_options)
        wsgi_application = getattr(settings, "WSGI_APPLICATION", None)
        if not wsgi_application or "." not in wsgi_application:
            raise CommandError(
                "WSGI_APPLICATION is not set in the settings: name the WSGI application, "
                "as in WSGI_APPLICATION = 'mysite.wsgi.application'"
            )
        module, _, callable_object = wsgi_application.rpartition(".")
        command = oxwsgi_command() + [
            "start-server",
            "--application-type",
            "module",
            "--callable-object",
            callable_object,
        ]
        if not given(server_options, "--working-directory"):
            command += ["--working-directory", working_directory(settings)]
        if not given(server_options, "--python-home") and sys.prefix != sys.base_prefix:
            command += ["--python-home", sys.prefix]
        command += static_alias(settings)
        command += server_options
        command.append(module)
        self.stdout.flush()
        self.stderr.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execvp(command[0], command)
        except OSError as err:
            raise CommandError("cannot run %s: %s" % (command[0], err))
