"""Error pages in the portal's style, or JSON when the client prefers it (microblog ``errors/``).

No stack trace ever reaches a user: unexpected errors are logged with the correlation id, which the page shows so
the telephone service can find the log line.
"""
from flask import Blueprint

bp = Blueprint("errors", __name__)

from . import handlers  # noqa: E402,F401
