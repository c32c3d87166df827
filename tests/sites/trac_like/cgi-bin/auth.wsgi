# Stand-in for a mod_wsgi authentication provider (WSGIAuthUserScript, AuthBasicProvider wsgi),
# the way sites check Trac logins against their own user store. Standard library only.
# True: the password is right; False: it is wrong; None: no such user.

USERS = {"reporter": "s3cret"}


def check_password(environ, user, password):
    if user not in USERS:
        return None
    return USERS[user] == password
