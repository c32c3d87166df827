"""``python -m oxwsgi``: the same as the ``oxwsgi`` command."""

from oxwsgi import main

main()
