"""gunicorn settings for the identity API (shared defaults: portal_common.gunicorn_conf)."""
from portal_common.gunicorn_conf import *  # noqa: F401,F403
