from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TelField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, Regexp

from ..forms import collapse_spaces, email_field, required, strip

MESSAGE_MAX = 2000

TOPICS = (
    ("policy", _l("Szerződés, kötvény")),
    ("claim", _l("Kár, kárbejelentés")),
    ("payment", _l("Díjfizetés")),
    ("documents", _l("Dokumentumok")),
    ("portal", _l("Az Ügyfélportál használata")),
    ("legal", _l("Jogi kérdés")),
    ("other", _l("Egyéb")),
)
TIMES = (
    ("any", _l("Bármikor (munkanapokon 8–20 óra)")),
    ("morning", _l("Délelőtt (8–12 óra)")),
    ("afternoon", _l("Délután (12–16 óra)")),
    ("evening", _l("Késő délután, este (16–20 óra)")),
)


def new_idempotency_key() -> str:
    return secrets.token_urlsafe(18)


class CallbackForm(FlaskForm):
    # One key per form shown: submitting the same form twice (double click, reload) makes one request.
    idempotency_key = HiddenField(validators=[Regexp(r"^[A-Za-z0-9_-]{16,64}$")])
    name = StringField(_l("Név"), filters=[collapse_spaces], validators=[
        required(_l("Kérjük, adja meg a nevét.")), Length(max=200)])
    phone = TelField(_l("Telefonszám"), filters=[strip], validators=[
        required(_l("Kérjük, adja meg, milyen telefonszámon hívhatjuk vissza."))])  # the form: identity's rule
    email = email_field()
    policy_number = StringField(_l("Kötvényszám (ha van)"), filters=[strip], validators=[Optional(), Length(max=64)])
    topic = SelectField(_l("Téma"), choices=[SelectChoice(v, label) for v, label in (("", _l("Válasszon…")), *TOPICS)],
                        validators=[
        required(_l("Kérjük, válassza ki, miről szeretne beszélni."))])
    message = TextAreaField(_l("Kérdése"), filters=[strip], validators=[
        required(_l("Kérjük, írja le röviden a kérdését.")),
        Length(max=MESSAGE_MAX, message=_l("Legfeljebb %(max)d karakter fér el.", max=MESSAGE_MAX))])
    preferred_time = SelectField(_l("Mikor hívjuk?"), choices=[SelectChoice(v, label) for v, label in TIMES],
                                 default="any")
