# Pecan configuration of the publisher (seed 000: a Pecan service behind mod_wsgi that notifies
# a subscriber). Loaded by app.wsgi with pecan.deploy, as in the seed.
server = {
    "port": "8080",
    "host": "0.0.0.0",
}

app = {
    "root": "publisher.controllers.root.RootController",
    "modules": ["publisher"],
    "debug": False,
}
