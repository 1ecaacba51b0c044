"""Field error texts in Hungarian and English, keyed by code.

Every field error of the identity API has the shape ``{"code": ..., "message_hu": ..., "message_en": ...}`` so the
gateway can show it under the field in the user's language (or map the code to its own wording).
"""
from __future__ import annotations

from .rules import USERNAME_MAX, USERNAME_MIN

MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("Kötelező mező.", "This field is required."),
    "invalid": ("Érvénytelen érték.", "Invalid value."),
    "too_long_text": ("Túl hosszú érték.", "The value is too long."),
    "invalid_date": ("Érvénytelen dátum (formátum: ÉÉÉÉ-HH-NN).", "Invalid date (format: YYYY-MM-DD)."),
    "invalid_email": ("Érvénytelen e-mail-cím.", "Invalid e-mail address."),
    "invalid_mobile": (
        "Adjon meg magyar mobilszámot (20, 30, 31, 50 vagy 70 körzetszámmal), pl. +36 30 123 4567.",
        "Enter a Hungarian mobile number (network 20, 30, 31, 50 or 70), e.g. +36 30 123 4567.",
    ),
    "invalid_language": ("A nyelv hu vagy en lehet.", "The language must be hu or en."),
    "username_length": (
        f"A felhasználónév {USERNAME_MIN}–{USERNAME_MAX} karakter hosszú lehet.",
        f"The username must be {USERNAME_MIN} to {USERNAME_MAX} characters long.",
    ),
    "username_chars": (
        "A felhasználónév csak ékezet nélküli betűket, számjegyeket és a . _ - jeleket tartalmazhatja.",
        "The username may contain only letters without accents, digits and . _ -",
    ),
    "username_taken": ("Ez a felhasználónév már foglalt.", "This username is already taken."),
    "too_short": ("A jelszó legalább {min} karakter legyen.", "The password must be at least {min} characters long."),
    "too_long": ("A jelszó túl hosszú.", "The password is too long."),
    "contains_username": (
        "A jelszó nem lehet azonos a felhasználónévvel, és nem is tartalmazhatja azt.",
        "The password must not be or contain the username.",
    ),
    "common_password": (
        "Ez a jelszó túl gyakori, könnyen kitalálható. Válasszon másikat.",
        "This password is too common and easy to guess. Choose another one.",
    ),
    "same_as_current": ("Az új jelszó nem egyezhet a jelenlegivel.", "The new password must differ from the current one."),
    "wrong_password": ("A jelszó nem megfelelő.", "The password is not correct."),
    "same_email": ("Ez a jelenlegi e-mail-címe.", "This is your current e-mail address."),
    "same_mobile": ("Ez a jelenlegi mobilszáma.", "This is your current mobile number."),
    "wrong_code": ("A kód nem megfelelő. Ellenőrizze az SMS-t, és írja be újra.",
                   "The code is not correct. Check the SMS and type it again."),
    "invalid_phone": ("Adjon meg egy telefonszámot, pl. +36 30 123 4567 vagy 06 1 555 0100.",
                      "Enter a phone number, e.g. +36 30 123 4567 or 06 1 555 0100."),
    "invalid_choice": ("Válasszon a felsoroltak közül.", "Choose one of the options."),
}


#: Where the generic text of a code would say too little: ``(field, code)`` -> texts.
FIELD_MESSAGES: dict[tuple[str, str], tuple[str, str]] = {
    ("accept_declaration", "required"): (
        "A regisztrációhoz fogadja el az elektronikus kapcsolattartásról szóló nyilatkozatot.",
        "To register, accept the declaration on electronic communication.",
    ),
}


def field_error(code: str, field: str | None = None, **params) -> dict:
    hu, en = FIELD_MESSAGES.get((field, code)) or MESSAGES.get(code, MESSAGES["invalid"])
    return {"code": code, "message_hu": hu.format(**params), "message_en": en.format(**params)}


def field_errors(codes_by_field: dict[str, list[str]], **params) -> dict[str, list[dict]]:
    return {field: [field_error(code, field, **params) for code in codes]
            for field, codes in codes_by_field.items() if codes}
