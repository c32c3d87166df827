# Server Specific Configurations (used by `pecan serve`, ignored under oxwsgi)
server = {
    "port": "8080",
    "host": "0.0.0.0",
}

# Pecan Application Configurations
app = {
    "root": "pecanrest.controllers.root.RootController",
    "modules": ["pecanrest"],
    "static_root": "%(confdir)s/public",
    "template_path": "%(confdir)s/pecanrest/templates",
    "debug": True,
    "errors": {
        404: "/error/404",
        "__force_dict__": True,
    },
}
