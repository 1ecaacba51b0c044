from __future__ import annotations

from flask import g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from portal_common import logs

from ..clients import http as remote
from . import bp

log = logs.get_logger(__name__)


def wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def _titles() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Hibás kérés"), _("A kérést nem tudtuk feldolgozni. Kérjük, próbálja újra.")),
        403: (_("Nincs jogosultsága"), _("Ehhez az oldalhoz nincs hozzáférése.")),
        404: (_("Az oldal nem található"),
              _("A keresett oldal vagy dokumentum nem található. Ellenőrizze a címet, vagy lépjen vissza a "
                "kezdőoldalra.")),
        405: (_("Nem engedélyezett művelet"), _("Ez a művelet ezen az oldalon nem engedélyezett.")),
        410: (_("Már nem érhető el"), _("Ez a tartalom már nem érhető el.")),
        413: (_("Túl nagy kérés"), _("A beküldött adat túl nagy.")),
        500: (_("Váratlan hiba"), _("Váratlan hiba történt. Kérjük, próbálja újra később.")),
        503: (_("A szolgáltatás átmenetileg nem érhető el"),
              _("A szolgáltatás átmenetileg nem érhető el. Kérjük, próbálja újra néhány perc múlva.")),
    }


def error_response(status: int, code: str, message: str | None = None, title: str | None = None):
    default_title, default_message = _titles().get(status, _titles()[500])
    title, message = title or default_title, message or default_message
    if wants_json():
        return jsonify(error=code, message=message, correlation_id=g.get("correlation_id")), status
    return render_template("errors/error.html", status=status, title=title, message=message,
                           correlation_id=g.get("correlation_id")), status


@bp.app_errorhandler(CSRFError)
def csrf_error(exc):
    return error_response(400, "csrf_failed", _(
        "Az űrlap biztonsági azonosítója hiányzik vagy lejárt. Kérjük, töltse be újra az oldalt, és küldje el "
        "ismét az űrlapot."), _("Az űrlap lejárt"))


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException):
    code = (exc.name or "error").lower().replace(" ", "_")
    custom = exc.description if getattr(exc, "portal_message", False) else None
    return error_response(exc.code or 500, code, custom)


@bp.app_errorhandler(remote.ServiceUnavailable)
def service_unavailable(exc):
    return error_response(503, "service_unavailable")


@bp.app_errorhandler(remote.NotFound)
def remote_not_found(exc):
    return error_response(404, "not_found")


@bp.app_errorhandler(remote.SessionExpired)
def remote_session_expired(exc):
    return error_response(401, "session_expired", str(exc.message), _("A munkamenete lejárt"))


@bp.app_errorhandler(Exception)
def unexpected(exc):
    # Logged with the correlation id; the user sees only a friendly page with that id.
    log.exception("unhandled_error", error=type(exc).__name__)
    return error_response(500, "internal_error")
