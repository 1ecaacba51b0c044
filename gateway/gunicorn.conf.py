"""gunicorn settings for the gateway (shared defaults: portal_common.gunicorn_conf).

Run: ``gunicorn -c gateway/gunicorn.conf.py 'gateway.app:create_app()'`` (PORTAL_API_PORT=8000).
"""
from portal_common.gunicorn_conf import *  # noqa: F401,F403
