"""Flask extensions, created unbound and attached in ``create_app`` with ``init_app`` (flaskr / microblog style)."""
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
babel = Babel()
