"""Public information pages (landing, manual, browsers) and the customer's home page."""
from flask import Blueprint

bp = Blueprint("main", __name__)

from . import routes  # noqa: E402,F401
