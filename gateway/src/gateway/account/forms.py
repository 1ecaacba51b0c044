from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l, ngettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from ..forms import IdentificationMixin, email_field, mobile_field, required, strip

PASSWORD_MAX = 128


class DeclarationForm(IdentificationMixin, FlaskForm):
    email = email_field()
    accept = BooleanField(
        _l("Kijelentem, hogy a biztosítási dokumentumaimat ezentúl elektronikusan, az Ügyfélportálon szeretném "
           "megkapni, és az új dokumentumokról a fenti e-mail-címre kérek értesítést."),
        validators=[DataRequired(message=_l("A nyilatkozat megtételéhez kérjük, jelölje be ezt a négyzetet."))])


class DeclarationWithdrawForm(IdentificationMixin, FlaskForm):
    """The public withdrawal, for someone who made the declaration but never registered."""

    confirm = BooleanField(
        _l("Visszavonom a nyilatkozatomat: biztosítási dokumentumaimat ezentúl ismét postai levélben kérem."),
        validators=[DataRequired(message=_l("A visszavonáshoz kérjük, jelölje be ezt a négyzetet."))])


class RegistrationForm(IdentificationMixin, FlaskForm):
    email = email_field()
    mobile = mobile_field()
    username = StringField(_l("Felhasználónév"), filters=[strip], validators=[
        required(_l("Kérjük, válasszon felhasználónevet.")),
        Length(min=3, max=32, message=_l("A felhasználónév 3–32 karakter hosszú legyen.")),
        Regexp(r"^[A-Za-z0-9._-]+$", message=_l("A felhasználónévben ékezet nélküli betűk, számjegyek és a . _ - "
                                                "jelek lehetnek, szóköz nélkül."))])
    # The declaration on electronic communication, made (or confirmed) with the registration: identity requires it
    # from a customer who has no active declaration yet. Sent as "accept_declaration": true.
    accept_declaration = BooleanField(
        _l("Kérem, hogy biztosítási dokumentumaimat ezentúl elektronikusan, az Ügyfélportálon (ePosta) kapjam meg, "
           "az új dokumentumokról pedig a fent megadott e-mail-címre kapjak értesítést."),
        validators=[DataRequired(message=_l("A regisztrációhoz kérjük, jelölje be ezt a négyzetet: az Ügyfélportál "
                                            "az elektronikus dokumentumküldés kérésével használható."))])


class ResendForm(FlaskForm):
    email = email_field()


class LoginForm(FlaskForm):
    username = StringField(_l("Felhasználónév"), filters=[strip], validators=[
        required(_l("Kérjük, adja meg a felhasználónevét."))])
    password = PasswordField(_l("Jelszó"), validators=[required(_l("Kérjük, adja meg a jelszavát."))])


class ForgottenForm(FlaskForm):
    email = email_field()
    mobile = mobile_field()


def _not_username(form, field):
    username = getattr(form, "username_value", None)
    if username and field.data and field.data.strip().lower() == username.lower():
        raise ValidationError(_l("A jelszó nem egyezhet meg a felhasználónévvel."))


def _password_length(form, field):
    """At least ``PORTAL_PASSWORD_MIN_LENGTH`` characters (identity's rule, read at request time), at most 128."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if field.data and len(field.data) < minimum:
        raise ValidationError(ngettext("Az új jelszó legalább %(num)s karakter hosszú legyen.",
                                       "Az új jelszó legalább %(num)s karakter hosszú legyen.", minimum))
    if field.data and len(field.data) > PASSWORD_MAX:
        raise ValidationError(ngettext("Az új jelszó legfeljebb %(num)s karakter hosszú lehet.",
                                       "Az új jelszó legfeljebb %(num)s karakter hosszú lehet.", PASSWORD_MAX))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Jelenlegi jelszó"), validators=[
        required(_l("Kérjük, adja meg a jelenlegi jelszavát."))])
    new_password = PasswordField(_l("Új jelszó"), validators=[
        required(_l("Kérjük, adja meg az új jelszót.")), _password_length, _not_username])
    new_password_confirm = PasswordField(_l("Új jelszó még egyszer"), validators=[
        required(_l("Kérjük, írja be újra az új jelszót.")),
        EqualTo("new_password", message=_l("A két új jelszó nem egyezik."))])


class CloseAccountForm(FlaskForm):
    password = PasswordField(_l("Jelszó"), validators=[
        required(_l("A regisztráció megszüntetéséhez kérjük, adja meg a jelszavát."))])


class EmailChangeForm(FlaskForm):
    """A new e-mail address, confirmed with the current password (sent as ``password`` + ``email``)."""

    email = email_field()
    password = PasswordField(_l("Jelenlegi jelszó"), validators=[required(_l("Kérjük, adja meg a jelszavát."))])


class MobileChangeForm(FlaskForm):
    mobile = mobile_field()
    password = PasswordField(_l("Jelenlegi jelszó"), validators=[required(_l("Kérjük, adja meg a jelszavát."))])


class MobileCodeForm(FlaskForm):
    code = StringField(_l("Az SMS-ben kapott kód"), filters=[strip], validators=[
        required(_l("Kérjük, írja be az SMS-ben kapott kódot.")),
        Regexp(r"^[0-9]{6}$", message=_l("A kód 6 számjegyből áll."))])
