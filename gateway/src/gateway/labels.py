"""Words for the codes the services use (products, payment methods, document types), in the current language.

The tables hold the Hungarian texts (``_l`` only marks them for ``pybabel extract``); :func:`label` gives a code's
word in the request's language, from the catalogue the page's templates use (``i18n.translate``) — a lazy string
per word looked the context, the locale and the catalogue up again on every use.
"""


def _l(text: str) -> str:
    return text


PRODUCTS = {
    "kgfb": _l("Kötelező gépjármű-felelősségbiztosítás"),
    "casco": _l("Casco biztosítás"),
    "home": _l("Lakásbiztosítás"),
    "business": _l("Vállalkozói vagyon- és felelősségbiztosítás"),
    "other": _l("Egyéb biztosítás"),
}
PAYMENT_METHODS = {
    "direct_debit": _l("Csoportos beszedés"),
    "bank_transfer": _l("Banki átutalás"),
    "cheque": _l("Csekk"),
}
POLICY_STATUSES = {
    "active": _l("Élő"),
    "suspended": _l("Szünetel"),
    "terminated": _l("Megszűnt"),
}
FREQUENCIES = {
    "annual": _l("éves"),
    "semiannual": _l("féléves"),
    "quarterly": _l("negyedéves"),
    "monthly": _l("havi"),
}
DOC_TYPES = {
    "policy_schedule": _l("Kötvény"),
    "premium_notice": _l("Díjértesítő"),
    "payment_reminder": _l("Fizetési emlékeztető"),
    "claim_letter": _l("Kárügyi levél"),
    "other": _l("Egyéb dokumentum"),
}


def label(table: dict, code: str | None) -> str:
    """The code's word in the request's language; an unknown code as it is."""
    from .i18n import translate

    text = table.get(code)
    return translate(text) if text is not None else str(code or "")
