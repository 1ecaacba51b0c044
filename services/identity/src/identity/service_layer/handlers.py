"""Use cases. Plain functions ``(command, *, deps)``; the HTTP API, the worker and the tests call the same ones.

Dependencies are injected by name (see :meth:`identity.bootstrap.Wiring.handle`): ``uow``, ``clock``, ``hasher``,
``directory``, ``settings``. Nothing here logs a password, a one-time password, a token or a link with a token, and
no event carries one in clear: they are sealed for notify (``portal_common.sealing``), bound to the account id.
"""
from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from datetime import datetime, timedelta, timezone

from portal_common import logs
from portal_common.sealing import default_sealer

from ..adapters import orm
from ..adapters.clock import Clock
from ..adapters.hasher import PasswordHasher
from ..adapters.policy_directory import PolicyDirectory, Policyholder
from ..domain import commands, errors, model, rules
from ..settings import Settings
from .unit_of_work import AbstractUnitOfWork, Conflict

log = logs.get_logger(__name__)


def sha256(raw: str) -> str:
    """Tokens, session ids: only their SHA-256 is stored (they are random, so no salt or slow hash is needed)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


# ----------------------------------------------------------------------------------------- per-client limits
#: kinds of ``client_attempts`` rows
IDENTIFICATION, RECOVERY, LOGIN_FAILURE = "identification", "recovery", "login_failure"


def client_key(client_ip: str) -> str:
    return (client_ip or "unknown")[:100]


def _take_allowance(uow: AbstractUnitOfWork, kind: str, client_ip: str, limit: int, window: timedelta,
                    now: datetime) -> int:
    """Count the client's attempts in the window and record this one, as one step (the client's lock is held until
    the commit: 40 parallel requests never pass more than ``limit``); over the limit -> :class:`Throttled` with the
    seconds until the oldest attempt leaves the window. Returns the attempt's id, for :func:`_give_back`."""
    key = client_key(client_ip)
    with uow:
        uow.repo.lock_client(kind, key)
        uow.repo.relax_durability()  # bookkeeping of a rate limit: not worth waiting for the disk
        _raise_if_over(uow.repo.client_attempts_since(kind, key, now - window), limit, window, now)
        attempt_id = uow.repo.add_client_attempt(kind, key, now)
        uow.commit()
    return attempt_id


def _raise_if_over(attempts: list[datetime], limit: int, window: timedelta, now: datetime) -> None:
    """``attempts``: the client's attempts inside the window, oldest first (read under ``repo.lock_client``)."""
    if len(attempts) >= limit:
        # One more attempt is allowed once enough of them have left the window.
        frees_at = attempts[-limit] + window
        raise errors.Throttled(max(1, math.ceil((frees_at - now).total_seconds())))


def _give_back(uow: AbstractUnitOfWork, attempt_id: int) -> None:
    """An attempt that turned out not to count (a successful identification or login); the caller commits."""
    uow.repo.remove_client_attempt(attempt_id)


def _give_back_now(uow: AbstractUnitOfWork, attempt_id: int) -> None:
    with uow:
        _give_back(uow, attempt_id)
        uow.commit()


def _spend_recovery_allowance(client_ip: str, *, uow: AbstractUnitOfWork, clock: Clock, settings: Settings) -> None:
    """Recovery and resend requests: every request counts (matched or not), one allowance for both, checked before
    anything is looked up, so a 429 says nothing about any address."""
    _take_allowance(uow, RECOVERY, client_ip, settings.recovery_max_per_client, settings.client_window, clock.now())


# ---------------------------------------------------------------------------------------------- identification
def identify(ident: commands.Identification, client_ip: str, *, uow: AbstractUnitOfWork, directory: PolicyDirectory,
             clock: Clock, settings: Settings) -> Policyholder:
    """Ask the policies service who this is. Failures are counted per client (stored in the database, so every
    gunicorn worker sees them) and throttled; a mismatch never says which item failed. The attempt is counted
    before the question (so parallel requests cannot all ask) and given back when it matched."""
    attempt = _take_allowance(uow, IDENTIFICATION, client_ip, settings.identify_max_failures,
                              settings.identify_window, clock.now())
    try:
        holder = directory.match(ident)  # no transaction is held open during the HTTP call
    except errors.DirectoryUnavailable:
        _give_back_now(uow, attempt)  # not a mismatch
        raise
    if holder is None:
        log.info("identification_failed", client=client_key(client_ip))
        raise errors.IdentificationFailed()
    _give_back_now(uow, attempt)
    return holder


def _new_declaration(uow: AbstractUnitOfWork, *, customer_id: str, policy_number: str, email: str, language: str,
                     channel: str, now: datetime, settings: Settings) -> model.Declaration:
    declaration = model.Declaration(
        declaration_id=str(uuid.uuid4()), customer_id=customer_id, policy_number=policy_number,
        email=rules.normalise_email(email), language=language, text_version=settings.declaration_version,
        channel=channel, declared_at=now)
    uow.repo.add_declaration(declaration)
    uow.publish("customer.declared", {
        "declaration_id": declaration.declaration_id, "customer_id": customer_id, "policy_number": policy_number,
        "email": declaration.email, "language": language, "text_version": declaration.text_version,
        "channel": channel, "declared_at": iso(now)})
    return declaration


# ------------------------------------------------------------------------------------------------ declarations
def declare(cmd: commands.Declare, *, uow: AbstractUnitOfWork, directory: PolicyDirectory, clock: Clock,
            settings: Settings) -> model.Declaration:
    holder = identify(cmd.identification, cmd.client_ip, uow=uow, directory=directory, clock=clock, settings=settings)
    with uow:
        existing = uow.repo.latest_declaration(holder.customer_id)
        if existing is not None and existing.active:
            raise errors.AlreadyDeclared()
        declaration = _new_declaration(uow, customer_id=holder.customer_id,
                                       policy_number=cmd.identification.policy_number.strip(), email=cmd.email,
                                       language=cmd.language, channel="portal", now=clock.now(), settings=settings)
        try:
            uow.commit()
        except Conflict:
            raise errors.AlreadyDeclared() from None
    log.info("declaration_recorded", declaration_id=declaration.declaration_id, channel="portal")
    return declaration


def get_declaration(customer_id: str, *, uow: AbstractUnitOfWork) -> model.Declaration:
    with uow:
        declaration = uow.repo.latest_declaration(customer_id)
        if declaration is None:
            raise errors.NotFound(customer_id)
        return declaration


def _withdraw(uow: AbstractUnitOfWork, declaration: model.Declaration, now: datetime, reason: str) -> None:
    """Back to paper post, and an event the core system (and notify) act on. The caller commits."""
    declaration.withdrawn_at = now
    uow.publish("customer.declaration_withdrawn", {
        "declaration_id": declaration.declaration_id, "customer_id": declaration.customer_id,
        "email": declaration.email, "language": declaration.language, "withdrawn_at": iso(now)})
    log.info("declaration_withdrawn", declaration_id=declaration.declaration_id, reason=reason)


def withdraw_declaration(cmd: commands.WithdrawDeclaration, *, uow: AbstractUnitOfWork,
                         clock: Clock) -> model.Declaration:
    """Back to paper post. Idempotent: withdrawing again returns the withdrawn declaration without a new event."""
    with uow:
        declaration = uow.repo.latest_declaration(cmd.customer_id, for_update=True)  # concurrent: one event
        if declaration is None:
            raise errors.NotFound(cmd.customer_id)
        if declaration.active:
            _withdraw(uow, declaration, clock.now(), reason="customer")
            uow.commit()
        return declaration


def withdraw_identified_declaration(cmd: commands.WithdrawIdentifiedDeclaration, *, uow: AbstractUnitOfWork,
                                    directory: PolicyDirectory, clock: Clock,
                                    settings: Settings) -> model.Declaration:
    """Withdrawal by someone who only declared (step 0) and has no portal login: identified exactly like a
    declaration (the same throttle, the same generic mismatch). Nothing active to withdraw (never declared, or
    withdrawn already) is :class:`~identity.domain.errors.NoDeclaration`, so the event goes out once."""
    holder = identify(cmd.identification, cmd.client_ip, uow=uow, directory=directory, clock=clock, settings=settings)
    with uow:
        # the row lock: a concurrent withdrawal waits, then finds nothing active
        declaration = uow.repo.latest_declaration(holder.customer_id, for_update=True)
        if declaration is None or not declaration.active:
            raise errors.NoDeclaration()
        _withdraw(uow, declaration, clock.now(), reason="identified")
        uow.commit()
        return declaration


# ------------------------------------------------------------------------------------------------ registration
def _issue_activation(uow: AbstractUnitOfWork, account: model.Account, now: datetime, settings: Settings) -> str:
    raw = secrets.token_urlsafe(32)
    expires_at = now + settings.activation_ttl
    uow.repo.add_token(model.ActivationToken(token_hash=sha256(raw), account_id=account.account_id, created_at=now,
                                             expires_at=expires_at))
    uow.publish("account.activation_requested", {
        "account_id": account.account_id, "customer_id": account.customer_id, "username": account.username,
        "email": account.email, "language": account.language,
        "activation_url_sealed": default_sealer().seal(f"{settings.public_url}/activate/{raw}", account.account_id),
        "expires_at": iso(expires_at),
    }, secret_fields=("activation_url_sealed",))
    return raw


def _stale_pending(uow: AbstractUnitOfWork, customer_id: str, now: datetime) -> model.Account | None:
    """An active account, or a pending one whose link still works, blocks a new registration. A pending one with no
    valid link left (a mistyped e-mail address, a mail never read) does not: it is returned, to be replaced."""
    current = uow.repo.open_account_of(customer_id)
    if current is None:
        return None
    if current.status != model.PENDING:
        raise errors.AlreadyRegistered()
    if any(token.state(now) == "valid" for token in uow.repo.tokens_of(current.account_id)):
        raise errors.ActivationPending()
    return current


def register(cmd: commands.Register, *, uow: AbstractUnitOfWork, directory: PolicyDirectory, clock: Clock,
             settings: Settings) -> model.Account:
    """Fields are already valid in form (the API's schema checks them with :mod:`identity.domain.rules`); the rules
    that need the database (``username_taken``, ``accept_declaration`` required) are reported together, and nothing
    is saved while any of them fails."""
    holder = identify(cmd.identification, cmd.client_ip, uow=uow, directory=directory, clock=clock, settings=settings)
    if not holder.may_register:
        raise errors.NotEligible()
    now = clock.now()
    key = rules.username_key(cmd.username)
    conflict = None
    with uow:
        stale = _stale_pending(uow, holder.customer_id, now)
        codes: dict[str, list[str]] = {}
        holder_of_name = uow.repo.account_by_username(key)
        if holder_of_name is not None and holder_of_name is not stale:  # the customer may keep their own choice
            codes["username"] = ["username_taken"]
        declaration = uow.repo.latest_declaration(holder.customer_id)
        needs_declaration = declaration is None or not declaration.active
        if needs_declaration and cmd.accept_declaration is not True:
            # Never record a declaration the user did not accept (the registration form has a checkbox for it).
            codes["accept_declaration"] = ["required"]
        if codes:
            raise errors.InvalidFields(codes)
        if stale is not None:
            stale.expire()  # its username is free again, and it no longer counts as the customer's open account
            log.info("pending_account_expired", account_id=stale.account_id)
        if needs_declaration:
            # Registering includes the declaration on electronic communication (channel "registration").
            _new_declaration(uow, customer_id=holder.customer_id,
                             policy_number=cmd.identification.policy_number.strip(), email=cmd.email,
                             language=cmd.language, channel="registration", now=now, settings=settings)
        account = model.Account(
            account_id=str(uuid.uuid4()), customer_id=holder.customer_id, username=cmd.username.strip(),
            username_key=key, email=rules.normalise_email(cmd.email), mobile=cmd.mobile, language=cmd.language,
            status=model.PENDING, created_at=now)
        uow.repo.add_account(account)
        _issue_activation(uow, account, now, settings)
        try:
            uow.commit()
        except Conflict as exc:  # a concurrent registration won the race
            conflict = exc
    if conflict is not None:
        if conflict.rule == orm.USERNAME:
            raise errors.InvalidFields({"username": ["username_taken"]})
        with uow:  # say what the winner left: usually a pending account with a fresh link
            winner = uow.repo.open_account_of(holder.customer_id)
        if winner is not None and winner.status == model.PENDING:
            raise errors.ActivationPending()
        raise errors.AlreadyRegistered()
    log.info("account_registered", account_id=account.account_id)
    return account


def resend_activation(cmd: commands.ResendActivation, *, uow: AbstractUnitOfWork, clock: Clock,
                      settings: Settings) -> None:
    """A new link for a pending account with this e-mail; the older links stop working. Says nothing either way;
    limited per client together with recovery (:func:`_spend_recovery_allowance`)."""
    _spend_recovery_allowance(cmd.client_ip, uow=uow, clock=clock, settings=settings)
    now = clock.now()
    with uow:
        pending = uow.repo.accounts_by_email(rules.normalise_email(cmd.email), model.PENDING)
        for account in pending:
            uow.repo.revoke_tokens(account.account_id, now)
            _issue_activation(uow, account, now, settings)
        uow.commit()
    for account in pending:
        log.info("activation_resent", account_id=account.account_id)


def activate(cmd: commands.Activate, *, uow: AbstractUnitOfWork, hasher: PasswordHasher,
             clock: Clock) -> model.Account:
    now = clock.now()
    with uow:
        token = uow.repo.get_token(sha256(cmd.token), for_update=True)  # a double click activates once
        if token is None:
            raise errors.TokenInvalid("unknown")
        state = token.state(now)
        if state != "valid":
            raise errors.TokenInvalid(state)
        account = uow.repo.get_account(token.account_id)
        if account is None or account.status != model.PENDING:
            raise errors.TokenInvalid("used")
        password = rules.generate_password()
        account.activate(hasher.hash(password), now)
        token.used_at = now
        person = {"account_id": account.account_id, "customer_id": account.customer_id, "username": account.username,
                  "mobile": account.mobile, "language": account.language}
        uow.publish("account.activated", {**person, "email": account.email, "activated_at": iso(now)})
        # The password goes to notify alone (documents also hears account.activated), sealed for it.
        uow.publish("account.initial_password_issued", {
            **person, "initial_password_sealed": default_sealer().seal(password, account.account_id),
        }, secret_fields=("initial_password_sealed",))
        uow.commit()
    log.info("account_activated", account_id=account.account_id)
    return account


def get_account(account_id: str, *, uow: AbstractUnitOfWork) -> model.Account:
    with uow:
        account = uow.repo.get_account(account_id)
        if account is None:
            raise errors.NotFound(account_id)
        return account


# ------------------------------------------------------------------------------------------- login and lockout
def login(cmd: commands.Login, *, uow: AbstractUnitOfWork, hasher: PasswordHasher, clock: Clock,
          settings: Settings) -> tuple[str, model.Account]:
    """Returns ``(session_id, account)``. The opaque session id is handed out once; only its hash is stored.

    Every path looks the same from outside (OWASP ASVS 6.3.8): a username without an active account (unknown,
    pending, closed) answers 401, 401, then 423 with a ``locked_until`` like a real account, and every path costs
    one argon2 verification (the password's, or a dummy hash's); a pending one-time password is compared by its
    SHA-256 (it is random, like a token), which costs nothing measurable.
    """
    now = clock.now()
    # Password spraying: many names, one password, one client. Checked first, the same for every username; the
    # attempt counts as a failure until it succeeds.
    attempt = _take_allowance(uow, LOGIN_FAILURE, cmd.client_ip, settings.login_max_failures_per_client,
                              settings.client_window, now)
    key = rules.username_key(cmd.username)
    with uow:
        # The row lock makes the count atomic and the one-time password single use: a concurrent login of the same
        # name waits here, then sees what this one changed (the same lock as a double-clicked activation link).
        account = uow.repo.account_by_username(key, for_update=True)
        if account is not None and account.status != model.ACTIVE:
            account = None  # pending, closed, expired: indistinguishable from unknown
        password_ok = hasher.verify(account.password_hash if account else None, cmd.password)
        otp_ok = account is not None and not password_ok and account.otp_matches(sha256(cmd.password), now)
        if account is None:
            _refuse(uow, uow.repo.unknown_login(rules.username_hash(settings.username_hash_key, key), now), now,
                    settings)
        if account.is_locked(now) and not otp_ok:
            # Even the right password waits for the lock to end; the one-time password from the forgotten-
            # credentials journey is the other way back in.
            raise errors.Locked(account.locked_until)
        if not (password_ok or otp_ok):
            _refuse(uow, account, now, settings)
        if otp_ok:
            account.use_otp(now)
            log.info("one_time_password_used", account_id=account.account_id)
        else:
            account.login_succeeded()
            if hasher.needs_rehash(account.password_hash):
                account.password_hash = hasher.hash(cmd.password)
        _give_back(uow, attempt)
        session_id = secrets.token_urlsafe(32)
        uow.repo.add_session(model.LoginSession(session_hash=sha256(session_id), account_id=account.account_id,
                                                created_at=now, last_seen_at=now))
        uow.commit()
    log.info("login_succeeded", account_id=account.account_id)
    return session_id, account


def _refuse(uow: AbstractUnitOfWork, subject: model.LoginLockout, now: datetime, settings: Settings):
    """A wrong password for ``subject`` (an account, or a username without one): counted by the lockout rule,
    committed, then :class:`Locked` or :class:`InvalidCredentials`. The attempt that locks an account tells the
    owner (``account.locked``, once per lock); a name without an account has nobody to tell and is never logged."""
    result = subject.record_failed_login(now, settings.lockout_threshold, settings.lockout)
    if isinstance(subject, model.Account):
        if result.locked_now:
            _tell_the_owner(uow, subject, result)
        else:
            log.info("login_failed", account_id=subject.account_id, failed_attempts=result.failed_attempts)
    else:
        log.info("login_failed_no_account", failed_attempts=result.failed_attempts)
    if result.counted:  # while locked nothing changes: no write, for an account and a name without one alike
        uow.commit()
    if result.locked_until is not None:
        raise errors.Locked(result.locked_until)
    raise errors.InvalidCredentials()


def _tell_the_owner(uow: AbstractUnitOfWork, account: model.Account, result: model.FailedLogin, **log_fields):
    """The attempt that locked: ``account.locked`` (notify e-mails the owner, once per lock)."""
    uow.publish("account.locked", {
        "account_id": account.account_id, "username": account.username, "email": account.email,
        "language": account.language, "locked_until": iso(result.locked_until),
        "failed_attempts": result.failed_attempts})
    log.warning("account_locked", account_id=account.account_id, locked_until=iso(result.locked_until), **log_fields)


def _check_current_password(uow: AbstractUnitOfWork, account: model.Account, password: str, *,
                            hasher: PasswordHasher, now: datetime, settings: Settings) -> bool:
    """A password confirmation on a logged-in page (change password, close account). A wrong one counts towards the
    lockout like a wrong login (a stolen session must not become a way to guess the password): the attempt that
    locks ends every session of the account, commits and raises :class:`Locked`. A locked account is refused
    even with the right password, as at login."""
    if account.is_locked(now):
        raise errors.Locked(account.locked_until)
    if hasher.verify(account.password_hash, password) or account.used_otp_matches(sha256(password), now):
        account.login_succeeded()  # a right password ends the series, as at login
        return True
    result = account.record_failed_login(now, settings.lockout_threshold, settings.lockout)
    if result.locked_now:
        _tell_the_owner(uow, account, result, sessions_ended=uow.repo.delete_sessions(account.account_id))
        uow.commit()
        raise errors.Locked(result.locked_until)
    log.info("password_confirmation_failed", account_id=account.account_id, failed_attempts=result.failed_attempts)
    return False


# ------------------------------------------------------------------------------------------------------ sessions
def touch_session(cmd: commands.TouchSession, *, uow: AbstractUnitOfWork, clock: Clock,
                  settings: Settings) -> model.Account:
    """A live session slides its idle timer; an idle or orphaned one is deleted.

    Every page view asks this, so it must be cheap: it reads the session and its account by primary key and writes
    the new ``last_seen_at`` only when the stored one is ``session_touch`` (60 s) old or older. The stored time is
    then at most 60 s behind the last real use, so a session ends between 14 and 15 minutes of idleness — never later
    than the rule's 15. Logout, a password change, recovery and closing delete the row, so the next page view after
    them (the gateway asks on every one) already finds no session.
    """
    now = clock.now()
    with uow:
        session = uow.repo.get_session(sha256(cmd.session_id))
        if session is None:
            raise errors.SessionExpired()
        account = uow.repo.get_account(session.account_id)
        if account is None or account.status != model.ACTIVE or session.expired(now, settings.session_idle):
            uow.repo.delete_session(session.session_hash)
            uow.commit()
            raise errors.SessionExpired()
        if now - session.last_seen_at >= settings.session_touch:
            session.last_seen_at = now
            uow.commit()
        return account


def logout(cmd: commands.Logout, *, uow: AbstractUnitOfWork) -> None:
    with uow:
        uow.repo.delete_session(sha256(cmd.session_id))
        uow.commit()


def change_password(cmd: commands.ChangePassword, *, uow: AbstractUnitOfWork, hasher: PasswordHasher, clock: Clock,
                    settings: Settings) -> None:
    """Checks the current password and the policy; ends every other session of the account.

    The session kept is ``keep_session_id`` when given, else the most recently used one (the one that asked).
    """
    now = clock.now()
    with uow:
        account = uow.repo.get_account(cmd.account_id, for_update=True)  # the count of wrong passwords
        if account is None or account.status != model.ACTIVE:
            raise errors.NotFound(cmd.account_id)
        codes: dict[str, list[str]] = {}
        if not _check_current_password(uow, account, cmd.current_password, hasher=hasher, now=now,
                                       settings=settings):
            codes["current_password"] = ["wrong_password"]
        policy = rules.check_password(cmd.new_password, username=account.username,
                                      min_length=settings.password_min_length, current_password=cmd.current_password)
        if policy:
            codes["new_password"] = policy
        if codes:
            uow.commit()  # the wrong password's count (or the right one's reset) stays
            raise errors.InvalidFields(codes)
        account.set_password(hasher.hash(cmd.new_password), now)
        if cmd.keep_session_id:
            keep = sha256(cmd.keep_session_id)
        else:
            sessions = sorted(uow.repo.sessions_of(account.account_id), key=lambda s: s.last_seen_at)
            keep = sessions[-1].session_hash if sessions else None
        uow.repo.delete_sessions(account.account_id, keep=keep)
        uow.publish("account.password_changed", {
            "account_id": account.account_id, "username": account.username, "email": account.email,
            "language": account.language, "changed_at": iso(now)})
        uow.commit()
    log.info("password_changed", account_id=account.account_id)


# ------------------------------------------------------------------------------------------------------ recovery
def request_recovery(cmd: commands.RequestRecovery, *, uow: AbstractUnitOfWork, clock: Clock,
                     settings: Settings) -> None:
    """Forgotten username or password: e-mail + mobile both matching an active account get a one-time password.

    The answer never depends on a match, and neither does the work (the one-time password is random, so only its
    SHA-256 is stored, like a token's: no slow hashing to time). Limited per client, together with resend
    (:func:`_spend_recovery_allowance`).
    """
    _spend_recovery_allowance(cmd.client_ip, uow=uow, clock=clock, settings=settings)
    now = clock.now()
    email, mobile = rules.normalise_email(cmd.email), rules.normalise_mobile(cmd.mobile)
    with uow:
        matches = [a for a in uow.repo.accounts_by_email(email, model.ACTIVE) if mobile and a.mobile == mobile]
        for account in matches:  # the rare second account with the same contact details gets its own password
            otp = rules.generate_password()
            expires_at = now + settings.otp_ttl
            account.issue_otp(sha256(otp), expires_at)
            ended = uow.repo.delete_sessions(account.account_id)
            uow.publish("account.credentials_reset", {
                "account_id": account.account_id, "username": account.username, "email": account.email,
                "mobile": account.mobile, "language": account.language,
                "one_time_password_sealed": default_sealer().seal(otp, account.account_id),
                "expires_at": iso(expires_at)}, secret_fields=("one_time_password_sealed",))
            log.info("credentials_reset", account_id=account.account_id, sessions_ended=ended)
        uow.commit()


# ------------------------------------------------------------------------------------------------------- closing
def close_account(cmd: commands.CloseAccount, *, uow: AbstractUnitOfWork, hasher: PasswordHasher,
                  clock: Clock, settings: Settings) -> None:
    """Terminates the registration and, in the same transaction, withdraws the active declaration: without it the
    new-document e-mails would keep going out to someone who left the portal. Documents go by post again."""
    now = clock.now()
    with uow:
        account = uow.repo.get_account(cmd.account_id, for_update=True)  # a double submit closes once
        if account is None or account.status != model.ACTIVE:
            raise errors.NotFound(cmd.account_id)
        if not _check_current_password(uow, account, cmd.password, hasher=hasher, now=now, settings=settings):
            uow.commit()  # the wrong password counts towards the lockout
            raise errors.InvalidFields({"password": ["wrong_password"]})
        account.close(now)
        uow.repo.delete_sessions(account.account_id)
        uow.publish("account.closed", {
            "account_id": account.account_id, "customer_id": account.customer_id, "email": account.email,
            "language": account.language, "closed_at": iso(now)})
        declaration = uow.repo.latest_declaration(account.customer_id, for_update=True)
        if declaration is not None and declaration.active:
            _withdraw(uow, declaration, now, reason="account_closed")
        uow.commit()
    log.info("account_closed", account_id=account.account_id)


# --------------------------------------------------------------------------------------------------- bus events
#: A failed delivery is about the initial password when notify names this cause event or this template
#: (contracts/events/notification.failed.v1.json).
#: account.initial_password_issued since the password left account.activated (v2); the old name for failures of
#: messages recorded before.
INITIAL_PASSWORD_EVENTS = ("account.initial_password_issued", "account.activated")
INITIAL_PASSWORD_TEMPLATE = "initial_password"


def policy_changed(cmd=None) -> None:
    """``policy.upserted``: deliberately nothing. Identity keeps no copy of policyholder data; it asks the policies
    service (``POST /internal/policyholders/match``) at identification time, so it always sees the latest state. The
    route exists because the topology sends ``policy.upserted`` to identity's queue."""


def note_notification_failed(cmd: commands.NoteNotificationFailed, *, uow: AbstractUnitOfWork) -> bool:
    """Only an undeliverable initial-password SMS matters here: remember it on the account, so the portal can tell
    the user to call the telephone service. Other failures (e-mails, reset notices) change nothing."""
    template = cmd.template or ""
    about_initial_password = (cmd.cause_event in INITIAL_PASSWORD_EVENTS or template == INITIAL_PASSWORD_TEMPLATE
                              or template.startswith(INITIAL_PASSWORD_EVENTS))
    if cmd.channel != "sms" or not cmd.account_id or not about_initial_password:
        return False
    found = mark_sms_failed(commands.MarkSmsFailed(cmd.account_id), uow=uow)
    if not found:
        log.info("sms_failure_for_unknown_account", account_id=cmd.account_id)
    return found


def mark_sms_failed(cmd: commands.MarkSmsFailed, *, uow: AbstractUnitOfWork) -> bool:
    """The initial-password SMS could not be delivered: the portal tells the user to call the telephone service."""
    with uow:
        account = uow.repo.get_account(cmd.account_id)
        if account is None:
            return False
        account.sms_status = model.SMS_FAILED
        uow.commit()
    log.warning("initial_password_sms_failed", account_id=cmd.account_id)
    return True
