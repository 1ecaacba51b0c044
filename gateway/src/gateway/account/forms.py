from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Regexp

from ..forms import IdentificationMixin, email_field, mobile_field, required, strip


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
    # Length and characters are identity's rule: its field error is shown under the field.
    username = StringField(_l("Felhasználónév"), filters=[strip], validators=[
        required(_l("Kérjük, válasszon felhasználónevet."))])
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


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Jelenlegi jelszó"), validators=[
        required(_l("Kérjük, adja meg a jelenlegi jelszavát."))])
    # The password policy (length, the username, common passwords) is identity's: its field errors are shown.
    new_password = PasswordField(_l("Új jelszó"), validators=[
        required(_l("Kérjük, adja meg az új jelszót."))])
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
