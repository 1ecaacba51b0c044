"""Which messages each event asks for, and how the events move the contact projection. Pure functions.

``plan(event, data, contact, occurred_at=…)`` returns the messages to record; ``project(event, data, contact)``
returns the contact after the event. Addresses come from the event itself, except for ``document.available`` and
``policy.enrolled``, which carry none: those go to the address of the customer's declaration on electronic
communication.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from .model import EMAIL, SMS, Contact, e164, language_of, mask_email, mask_phone


@dataclass
class Planned:
    template: str
    channel: str
    to: str | None
    language: str
    payload: dict
    account_id: str | None = None
    customer_id: str | None = None
    subject_key: str | None = None
    #: Set when nothing is to be sent and that is fine (e.g. no declaration address): recorded as "skipped".
    skip_reason: str | None = None
    #: Set when the message cannot be sent at all (no address in the event): recorded as "failed" at once.
    fail_reason: str | None = field(default=None)


#: Event name -> (template, channel) of every message it produces; the topology routes exactly these to notify.
TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    "account.activation_requested": (("activation", EMAIL),),
    "account.activated": (),  # v2: contact data only
    "account.initial_password_issued": (("initial_password", SMS),),
    "account.locked": (("account_locked", EMAIL),),
    "account.credentials_reset": (("credentials_reset", EMAIL), ("reset_notice", SMS)),
    "account.password_changed": (("password_changed", EMAIL),),
    "account.closed": (("account_closed", EMAIL),),
    "customer.declared": (("declaration_confirmed", EMAIL),),
    "customer.declaration_withdrawn": (("declaration_withdrawn", EMAIL),),
    "document.available": (("document_available", EMAIL),),
    "policy.enrolled": (("policy_enrolled", EMAIL),),
    "customer.callback_requested": (("callback_requested", EMAIL),),
    "document.expiring": (("document_expiring", EMAIL),),
    "account.email_change_requested": (("email_change_confirm", EMAIL),),
    "account.mobile_change_requested": (("mobile_change_code", SMS),),
    "customer.contact_changed": (("email_changed_notice", EMAIL), ("mobile_changed_notice", EMAIL)),
}


def _email(template: str, data: dict, payload: dict, **kw) -> Planned:
    to = (data.get("email") or "").strip() or None
    return Planned(template, EMAIL, to, language_of(data.get("language")), payload,
                   account_id=data.get("account_id"), customer_id=data.get("customer_id"),
                   fail_reason=None if to else "no e-mail address in the event", **kw)


def _sms(template: str, data: dict, payload: dict) -> Planned:
    raw = (data.get("mobile") or "").strip() or None
    to = e164(raw)
    reason = None if to else ("invalid mobile number" if raw else "no mobile number in the event")
    return Planned(template, SMS, to or raw, language_of(data.get("language")), payload,
                   account_id=data.get("account_id"), customer_id=data.get("customer_id"), fail_reason=reason)


def _iso(value) -> str | None:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


def _moment(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def valid_hours(expires_at, occurred_at) -> int | None:
    """How long a link or password is valid, in whole hours, as the event says it (from the moment the event occurred
    to its ``expires_at``), so the texts never state a figure of their own. None when it cannot be told (or is
    under half an hour): the texts then show only the expiry time."""
    end, start = _moment(expires_at), _moment(occurred_at)
    if end is None or start is None or end.tzinfo is None or start.tzinfo is None:
        return None
    hours = round((end - start).total_seconds() / 3600)
    return hours if hours >= 1 else None


def plan(event: str, data: dict, contact: Contact | None, *, occurred_at: datetime | None = None) -> list[Planned]:
    """``occurred_at``: when the event happened (its ``occurred_at`` header; the recording time when absent)."""
    d = data
    if event == "account.activation_requested":
        return [_email("activation", d, {"username": d.get("username"),
                                         "activation_url_sealed": d["activation_url_sealed"],
                                         "expires_at": _iso(d.get("expires_at")),
                                         "valid_hours": valid_hours(d.get("expires_at"), occurred_at)})]
    if event == "account.activated":
        return []  # only moves the contact projection
    if event == "account.initial_password_issued":
        return [_sms("initial_password", d, {"username": d.get("username"),
                                             "initial_password_sealed": d["initial_password_sealed"]})]
    if event == "account.locked":
        return [_email("account_locked", d, {"username": d.get("username"), "locked_until": _iso(d["locked_until"]),
                                             "failed_attempts": d.get("failed_attempts")})]
    if event == "account.credentials_reset":
        return [
            _email("credentials_reset", d, {"username": d["username"],
                                            "one_time_password_sealed": d["one_time_password_sealed"],
                                            "expires_at": _iso(d.get("expires_at")),
                                            "valid_hours": valid_hours(d.get("expires_at"), occurred_at)}),
            # The SMS only tells that a reset happened: the password travels by e-mail alone.
            _sms("reset_notice", d, {}),
        ]
    if event == "account.password_changed":
        return [_email("password_changed", d, {"username": d.get("username"), "changed_at": _iso(d.get("changed_at"))})]
    if event == "account.closed":
        return [_email("account_closed", d, {"closed_at": _iso(d.get("closed_at"))})]
    if event == "customer.declared":
        return [_email("declaration_confirmed", d, {"policy_number": d.get("policy_number"),
                                                    "declared_at": _iso(d.get("declared_at")),
                                                    "channel": d.get("channel")})]
    if event == "customer.declaration_withdrawn":
        return [_email("declaration_withdrawn", d, {"withdrawn_at": _iso(d.get("withdrawn_at"))})]
    if event == "document.available":
        return [_document_email("document_available", "document", d, contact)]
    if event == "policy.enrolled":
        to = (contact.declaration_email or contact.account_email) if contact else None
        return [Planned("policy_enrolled", EMAIL, to, contact.language if contact else "hu", {
            "policy_number": d["policy_number"], "payment_method": d.get("payment_method"),
            "previous_payment_method": d.get("previous_payment_method"),
        }, customer_id=d["customer_id"], skip_reason=None if to else "no e-mail address for the customer")]
    if event == "document.expiring":
        return [_document_email("document_expiring", "expiring", d, contact)]
    if event == "customer.callback_requested":
        return [_email("callback_requested", d, {
            "name": d.get("name"), "phone": d.get("phone"), "topic": d.get("topic"),
            "preferred_time": d.get("preferred_time"), "policy_number": d.get("policy_number"),
            "due_on": _iso(d.get("due_on")), "working_days": d.get("working_days"),
            "request_id": d.get("request_id")})]
    if event == "account.email_change_requested":
        # To the NEW address: proof that it reaches the customer. Nothing changes until the link is followed.
        return [_email("email_change_confirm", d, {"username": d.get("username"), "confirm_url_sealed": d["confirm_url_sealed"],
                                                   "expires_at": _iso(d.get("expires_at")),
                                                   "valid_hours": valid_hours(d.get("expires_at"), occurred_at)})]
    if event == "account.mobile_change_requested":
        return [_sms("mobile_change_code", d, {"code_sealed": d["code_sealed"], "expires_at": _iso(d.get("expires_at"))})]
    if event == "customer.contact_changed":
        return _contact_changed(d)
    raise ValueError(f"notify has no messages for {event!r}")


def _document_email(template: str, key_prefix: str, d: dict, contact: Contact | None) -> Planned:
    """About one document: to the declaration address, once per document (``subject_key``)."""
    to = contact.declaration_email if contact else None
    return Planned(template, EMAIL, to, contact.language if contact else "hu", {
        "document_id": d["document_id"], "title": d["title"], "doc_type": d["doc_type"],
        "policy_number": d["policy_number"], "available_until": _iso(d.get("available_until")),
    }, customer_id=d["customer_id"], subject_key=f"{key_prefix}:{d['document_id']}",
        skip_reason=None if to else "no declaration address")


def _contact_changed(d: dict) -> list[Planned]:
    """The PREVIOUS address hears that the e-mail address changed (if it was not the owner, they can act); a new
    mobile number is announced to the account's e-mail address. A language change sends nothing."""
    changed = d.get("changed") or []
    planned = []
    if "email" in changed and d.get("previous_email"):
        planned.append(_email("email_changed_notice", {**d, "email": d["previous_email"]},
                              {"new_email": mask_email(d.get("email")), "changed_at": _iso(d.get("changed_at"))}))
    if "mobile" in changed:
        planned.append(_email("mobile_changed_notice", d, {"new_mobile": mask_phone(d.get("mobile")),
                                                           "changed_at": _iso(d.get("changed_at"))}))
    return planned


def project(event: str, data: dict, contact: Contact | None, now: datetime) -> Contact | None:
    """The contact after ``event``; None when the event does not touch the projection."""
    customer_id = data.get("customer_id")
    if not customer_id or event not in ("customer.declared", "customer.declaration_withdrawn",
                                        "account.activated", "account.closed", "customer.contact_changed"):
        return None
    c = contact or Contact(customer_id=customer_id)
    if event == "customer.contact_changed":
        # The account's data after the change; the declaration address follows it (identity moved both at once).
        c.account_email = data.get("email") or c.account_email
        c.mobile = e164(data.get("mobile")) or c.mobile
        c.language = language_of(data.get("language") or c.language)
        if data.get("declaration_email") and c.declaration_email:
            c.declaration_email = data["declaration_email"]
        c.updated_at = now
        return c
    if event in ("customer.declared", "customer.declaration_withdrawn"):
        at = data.get("declared_at") if event == "customer.declared" else data.get("withdrawn_at")
        # Events can arrive out of order: an older declaration change never overrides a newer one.
        if at is not None and c.declaration_changed_at is not None and at < c.declaration_changed_at:
            return c
        c.declaration_email = data.get("email") if event == "customer.declared" else None
        c.declaration_changed_at = at or now
        if data.get("language"):
            c.language = language_of(data.get("language"))
    elif event == "account.activated":
        c.mobile = e164(data.get("mobile")) or c.mobile
        c.account_email = data.get("email") or c.account_email
        if data.get("language"):
            c.language = language_of(data.get("language"))
        c.closed_at = None
    elif event == "account.closed":
        # The portal account is gone: forget its contact data. The declaration (a separate statement about paper
        # vs electronic documents) stays until it is withdrawn.
        c.account_email, c.mobile, c.closed_at = None, None, data.get("closed_at") or now
    c.updated_at = now
    return c
