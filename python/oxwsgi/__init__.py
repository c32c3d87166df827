"""oxwsgi: a production WSGI server written in Rust, the successor of mod_wsgi-express.

The server is the ``oxwsgi`` command (``oxwsgi start-server app.wsgi``); this package only
carries it. Its native part, ``oxwsgi._oxwsgi``, is imported by the command, never here, so
that importing ``oxwsgi`` costs nothing.
"""

__all__ = ["main"]


def main():
    """The ``oxwsgi`` console script: runs the command line in Rust with ``sys.argv``.

    SIGINT gets its default action back before Rust takes the signals, so Ctrl-C stops the
    server the way it stops the binary, without a ``KeyboardInterrupt`` traceback.
    """
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from oxwsgi import _oxwsgi

    sys.exit(_oxwsgi.main(sys.argv))
