"""The Django app of oxwsgi's management commands."""

from django.apps import AppConfig


class OxwsgiConfig(AppConfig):
    """Labelled ``oxwsgi``: the last part of its name, ``django``, says nothing."""

    name = "oxwsgi.django"
    label = "oxwsgi"
    verbose_name = "oxwsgi"
