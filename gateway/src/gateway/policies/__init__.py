"""The customer's policies and ePosta enrolment of further policies."""
from flask import Blueprint

bp = Blueprint("policies", __name__)

from . import routes  # noqa: E402,F401
