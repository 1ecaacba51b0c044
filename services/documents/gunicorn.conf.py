"""gunicorn settings for the documents API (shared defaults: portal_common.gunicorn_conf).

Downloads are streamed from S3 through the gthread workers, so a slow client holds one thread, never a whole file
in memory.
"""
from portal_common.gunicorn_conf import *  # noqa: F401,F403
