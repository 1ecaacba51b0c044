"""Becoming and being a user: declaration, registration, activation, login/logout, passwords, recovery, closing."""
from flask import Blueprint

bp = Blueprint("account", __name__)

from . import contact_data, routes  # noqa: E402,F401
