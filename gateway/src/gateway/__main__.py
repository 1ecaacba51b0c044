"""``python -m gateway``: the development server on PORTAL_HTTP_PORT (8000). Production runs gunicorn:
``gunicorn -c gateway/gunicorn.conf.py 'gateway.app:create_app()'``."""
from portal_common import config

from .app import create_app


def main() -> None:
    create_app().run(host=config.env("PORTAL_HTTP_HOST", "127.0.0.1"), port=config.env_int("PORTAL_HTTP_PORT", 8000),
                     threaded=True)


if __name__ == "__main__":
    main()
