"""oxwsgi for Django projects: add ``"oxwsgi.django"`` to ``INSTALLED_APPS`` and
``python manage.py runoxwsgi`` serves the project with the ``oxwsgi`` server
(``runmodwsgi``, mod_wsgi-express's name for it, is an alias).

This app has no models, views or templates: only the management commands.
"""
