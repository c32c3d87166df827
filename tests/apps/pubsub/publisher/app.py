from pecan import make_app


def setup_app(config):
    return make_app(config.app.root, debug=getattr(config.app, "debug", False))
