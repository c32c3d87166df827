"""Starts pyruvate, which has no command line of its own: pyruvate_serve.py ADDRESS WORKERS DIR MODULE.

Imports MODULE's `application` from DIR (as gunicorn's --chdir does) and serves it with WORKERS
threads, with pyruvate's defaults but one: chunked transfer is on for the generator app (module
`stream`), so its response is framed as with the other servers. It stays off for the others:
pyruvate 1.6 then also appends a last-chunk to responses that have a Content-Length, which
corrupts them. Keep-alive stays off (max_reuse_count=0, the default: each response says
`Connection: close`): with it on, pyruvate 1.6 here answers the first request of a connection
and never the second."""

import importlib
import sys

import pyruvate

address, workers, directory, module = sys.argv[1:5]
sys.path.insert(0, directory)
application = importlib.import_module(module).application
pyruvate.serve(application, address, int(workers), chunked_transfer=module == "stream")
