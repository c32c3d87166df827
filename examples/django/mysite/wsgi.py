"""The project's WSGI module, served with:

    oxwsgi start-server --application-type module --working-directory examples/django mysite.wsgi
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application = get_wsgi_application()
