# Stand-in for a Django settings module: wsgi.py imports it by name through python-path=.
SITE_TITLE = "Almanac stand-in"
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
