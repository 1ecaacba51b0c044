"""Embedded run only (``make run``): the e-mails and SMS the dev sinks captured, newest first, links clickable.

Registered only when PORTAL_ENV != production and PORTAL_DEV_PAGES != 0. Texts here are for developers: not
translated.
"""
from flask import Blueprint

bp = Blueprint("dev", __name__, url_prefix="/dev")

from . import routes  # noqa: E402,F401
