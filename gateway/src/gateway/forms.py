"""Shared form pieces: the gateway owns its schemas (Flask-WTF), validated on the server, messages in the
current language. Field names equal the internal API's field names, so the API's field errors land under the
matching field (:func:`apply_remote_errors`)."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask_babel import get_locale, lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, StringField, TelField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError


def strip(value):
    return value.strip() if isinstance(value, str) else value


def collapse_spaces(value):
    return " ".join(value.split()) if isinstance(value, str) else value


def past_date(form, field):
    # "today" is the customer's (Budapest), not the server's time zone
    if field.data and not (date(1900, 1, 1) <= field.data <= datetime.now(ZoneInfo("Europe/Budapest")).date()):
        raise ValidationError(_l("Kérjük, valós születési dátumot adjon meg."))


def required(message):
    return DataRequired(message=message)


class IdentificationMixin:
    """The policy number and the natural identification data (must match the policyholder record)."""

    policy_number = StringField(_l("Kötvényszám"), filters=[strip], validators=[
        required(_l("Kérjük, adja meg a kötvényszámot.")), Length(max=64)])
    name = StringField(_l("Név"), filters=[collapse_spaces], validators=[
        required(_l("Kérjük, adja meg a nevét.")), Length(max=200)])
    birth_name = StringField(_l("Születési név"), filters=[collapse_spaces], validators=[
        required(_l("Kérjük, adja meg a születési nevét.")), Length(max=200)])
    birth_date = DateField(_l("Születési dátum"), format="%Y-%m-%d", validators=[
        InputRequired(message=_l("Kérjük, adja meg a születési dátumát (év, hónap, nap).")), past_date])
    birth_place = StringField(_l("Születési hely"), filters=[collapse_spaces], validators=[
        required(_l("Kérjük, adja meg a születési helyét.")), Length(max=200)])
    mother_name = StringField(_l("Anyja születési neve"), filters=[collapse_spaces], validators=[
        required(_l("Kérjük, adja meg édesanyja születési nevét.")), Length(max=200)])

    def identification(self) -> dict:
        return {
            "policy_number": self.policy_number.data, "name": self.name.data, "birth_name": self.birth_name.data,
            "birth_date": self.birth_date.data.isoformat(), "birth_place": self.birth_place.data,
            "mother_name": self.mother_name.data,
        }


# Presence only: the form of an address and of a Hungarian mobile number are identity's rules (it normalises the
# number too); its field errors ("invalid_email", "invalid_mobile") are shown under the field.
def email_field():
    return EmailField(_l("E-mail-cím"), filters=[strip], validators=[
        required(_l("Kérjük, adja meg az e-mail-címét."))])


def mobile_field():
    return TelField(_l("Mobiltelefonszám"), filters=[strip], validators=[
        required(_l("Kérjük, adja meg a mobiltelefonszámát."))])


class ActionForm(FlaskForm):
    """A form with only the CSRF token: buttons that change state (logout, confirm activation, enrol, withdraw)."""


def remote_message(item, lang: str | None = None) -> str:
    """A field error from a service: ``{"code", "message_hu", "message_en"}`` (or a plain string)."""
    if isinstance(item, dict):
        lang = lang or str(get_locale() or "hu")
        return item.get(f"message_{lang}") or item.get("message_hu") or item.get("message") or item.get("code", "")
    return str(item)


def apply_remote_errors(form: FlaskForm, fields: dict) -> list[str]:
    """Put the API's field errors under the matching fields; return the messages that match no field."""
    general = []
    for name, items in (fields or {}).items():
        items = items if isinstance(items, list) else [items]
        messages = [remote_message(i) for i in items]
        field = form._fields.get(name)
        if field is not None and name != "csrf_token":
            field.errors = list(field.errors or []) + messages
        else:
            general.extend(messages)
    return general


def field_attrs(field, hint: bool = False, **extra) -> dict:
    """Attributes of an input: its error (rendered under it) and hint are linked with ``aria-describedby``."""
    described = ([f"{field.id}-hint"] if hint else []) + ([f"{field.id}-error"] if field.errors else [])
    attrs = {"class": "input" + (" input--invalid" if field.errors else "")}
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if field.errors:
        attrs["aria-invalid"] = "true"
    attrs.update(extra)
    return attrs
