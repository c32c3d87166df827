# Stand-in for a shared module the scripts import, found through WSGIPythonPath (embedded mode).
GREETING = "helper-from-pylib"
