"""``runoxwsgi`` and its alias ``runmodwsgi``."""
