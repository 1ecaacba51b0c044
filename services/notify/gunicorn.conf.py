"""gunicorn settings for the notify API (shared defaults: portal_common.gunicorn_conf)."""
from portal_common.gunicorn_conf import *  # noqa: F401,F403
