""""Kérdésem van": the callback request form, open to everyone, pre-filled for a logged-in customer."""
from flask import Blueprint

bp = Blueprint("contact", __name__)

from . import routes  # noqa: E402,F401
