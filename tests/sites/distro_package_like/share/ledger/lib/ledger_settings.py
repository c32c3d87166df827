# Stand-in for a packaged application's settings module, found through python-path=.
FLAVOUR = "packaged"
