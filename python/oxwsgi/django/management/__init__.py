"""Management commands of oxwsgi.django."""
