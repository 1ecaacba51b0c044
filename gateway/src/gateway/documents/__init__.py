"""The customer's electronic documents: list with filters, download (streamed), inline view and print page."""
from flask import Blueprint

bp = Blueprint("documents", __name__)

from . import routes  # noqa: E402,F401
