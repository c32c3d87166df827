import module_that_does_not_exist  # noqa: F401


def application(environ, start_response):
    return []
