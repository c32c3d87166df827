# A script with a syntax error on line 4.

def application(environ, start_response)
    return []
