"""Declaration, registration, activation, resend and throttling of identification."""
from dataclasses import replace

import pytest
from portal_common.testing import unsealed

from identity.domain import commands, errors
from identity.service_layer import handlers


def register(world, ident=None, username="minta.anna", ip="10.0.0.1", email="Anna@Example.com", accept=True):
    return world.handle(handlers.register, commands.Register(ident or world.anna, email, "+36301234567", username,
                                                             "hu", ip, accept_declaration=accept))


def declare(world, ident=None, ip="10.0.0.1"):
    return world.handle(handlers.declare, commands.Declare(ident or world.anna, "anna@example.com", "en", ip))


def token_of(world):
    return unsealed(world.events("account.activation_requested")[-1], "activation_url").rsplit("/", 1)[1]


def activate(world, token):
    return world.handle(handlers.activate, commands.Activate(token))


# ------------------------------------------------------------------------------------------------ declaration
def test_a_declaration_is_recorded_with_version_channel_and_time(world):
    declaration = declare(world)
    assert (declaration.customer_id, declaration.text_version, declaration.channel) == ("C-1001", "2026-11", "portal")
    [event] = world.events("customer.declared")
    assert event == {"declaration_id": declaration.declaration_id, "customer_id": "C-1001",
                     "policy_number": "KGFB-1001", "email": "anna@example.com", "language": "en",
                     "text_version": "2026-11", "channel": "portal", "declared_at": handlers.iso(world.clock.now())}


def test_one_active_declaration_per_customer(world):
    declare(world)
    with pytest.raises(errors.AlreadyDeclared):
        declare(world)


def test_a_withdrawn_declaration_publishes_an_event_once_and_can_be_made_again(world):
    declaration = declare(world)
    world.clock.advance(days=1)
    world.handle(handlers.withdraw_declaration, commands.WithdrawDeclaration("C-1001"))
    world.handle(handlers.withdraw_declaration, commands.WithdrawDeclaration("C-1001"))
    [event] = world.events("customer.declaration_withdrawn")
    assert event["declaration_id"] == declaration.declaration_id
    assert event["withdrawn_at"] == handlers.iso(world.clock.now())
    assert world.handle(handlers.get_declaration, "C-1001").active is False
    declare(world)
    assert world.handle(handlers.get_declaration, "C-1001").active is True


def test_identification_is_tolerant_of_case_and_spaces_but_not_accents(world):
    declare(world, replace(world.anna, name="  minta   ANNA ", mother_name="TESZT MÁRIA"))
    with pytest.raises(errors.IdentificationFailed):
        declare(world, replace(world.bela, name="Teszt Bela"))


# ------------------------------------------------------------------------------------------------ registration
def test_registration_creates_a_pending_account_and_sends_a_link(world):
    account = register(world)
    assert account.status == "pending_activation" and account.email == "anna@example.com"
    [event] = world.events("account.activation_requested")
    assert unsealed(event, "activation_url").startswith("http://127.0.0.1:8000/activate/")
    assert event["expires_at"] == handlers.iso(world.clock.now() + world.settings.activation_ttl)
    assert world.secrets_of("account.activation_requested") == ("activation_url_sealed",)
    token = token_of(world)
    assert token not in world.repo.tokens and handlers.sha256(token) in world.repo.tokens


def test_registration_without_a_declaration_records_one(world):
    register(world)
    [event] = world.events("customer.declared")
    assert event["channel"] == "registration" and event["email"] == "anna@example.com"


def test_registration_with_a_declaration_keeps_it(world):
    declare(world)
    register(world)
    assert len(world.events("customer.declared")) == 1


def test_a_policyholder_without_an_eligible_policy_may_not_register(world):
    with pytest.raises(errors.NotEligible):
        register(world, world.cheque, username="cecilia")
    assert world.repo.accounts == {}


def test_one_account_per_customer(world):
    register(world)
    with pytest.raises(errors.ActivationPending):  # pending, its link still valid: check the mailbox
        register(world, username="anna2")
    world.active_account(username="bela", ident=world.bela, email="bela@example.com")
    with pytest.raises(errors.AlreadyRegistered):
        register(world, world.bela, username="bela2")


def test_usernames_are_taken_case_insensitively(world):
    register(world)
    with pytest.raises(errors.InvalidFields) as invalid:
        register(world, world.bela, username="MINTA.ANNA")
    assert invalid.value.codes == {"username": ["username_taken"]}


def test_a_closed_account_keeps_its_username_reserved_but_the_customer_may_register_again(world):
    account = world.active_account()
    world.handle(handlers.close_account, commands.CloseAccount(account.account_id, "Kezdo-Jelszo-2026"))
    with pytest.raises(errors.InvalidFields):
        register(world, username="minta.anna")
    assert register(world, username="anna.ujra").status == "pending_activation"


# ------------------------------------------------------------------------------------------------ throttling
def test_mismatches_are_throttled_per_client_after_5_failures_in_15_minutes(world):
    wrong = replace(world.anna, birth_place="Budapest")
    for _ in range(5):
        with pytest.raises(errors.IdentificationFailed):
            register(world, wrong, ip="203.0.113.9")
        world.clock.advance(minutes=1)
    calls = world.directory.calls
    with pytest.raises(errors.Throttled) as throttled:
        register(world, world.anna, ip="203.0.113.9")  # even the right data waits
    assert world.directory.calls == calls
    assert throttled.value.retry_after == 10 * 60  # the first failure (at minute 0) leaves the window at minute 15
    register(world, world.anna, ip="198.51.100.7")  # another client is not affected
    world.clock.advance(minutes=10)
    with pytest.raises(errors.ActivationPending):  # allowed again (and identified)
        register(world, world.anna, ip="203.0.113.9")


def test_declarations_count_towards_the_same_throttle(world):
    wrong = replace(world.anna, mother_name="Valaki Más")
    for _ in range(5):
        with pytest.raises(errors.IdentificationFailed):
            declare(world, wrong, ip="203.0.113.9")
    with pytest.raises(errors.Throttled):
        register(world, ip="203.0.113.9")


# ------------------------------------------------------------------------------------------------ activation
def test_activation_generates_the_initial_password_for_the_sms(world):
    account = register(world)
    activated = activate(world, token_of(world))
    assert activated.status == "active" and activated.must_change_password is True
    [event] = world.events("account.initial_password_issued")
    assert event["mobile"] == "+36301234567" and event["account_id"] == account.account_id
    assert world.secrets_of("account.initial_password_issued") == ("initial_password_sealed",)
    [public] = world.events("account.activated")
    assert "initial_password" not in str(public) and public["account_id"] == event["account_id"]
    session_id, logged_in = world.handle(handlers.login, commands.Login("minta.anna", unsealed(event, "initial_password")))
    assert logged_in.must_change_password is True


def test_an_activation_link_works_once(world):
    register(world)
    token = token_of(world)
    activate(world, token)
    with pytest.raises(errors.TokenInvalid) as invalid:
        activate(world, token)
    assert invalid.value.reason == "used"
    assert len(world.events("account.activated")) == 1


def test_an_activation_link_expires_after_24_hours(world):
    register(world)
    world.clock.advance(hours=23, minutes=59)
    token = token_of(world)
    world.clock.advance(minutes=1)
    with pytest.raises(errors.TokenInvalid) as invalid:
        activate(world, token)
    assert invalid.value.reason == "expired"


def test_an_unknown_link_is_unknown(world):
    with pytest.raises(errors.TokenInvalid) as invalid:
        activate(world, "made-up-token")
    assert invalid.value.reason == "unknown"


def test_a_resent_link_replaces_the_old_one(world):
    register(world)
    old = token_of(world)
    world.handle(handlers.resend_activation, commands.ResendActivation(" ANNA@example.com"))
    new = token_of(world)
    assert new != old
    with pytest.raises(errors.TokenInvalid):
        activate(world, old)
    activate(world, new)


def test_resend_for_an_unknown_or_active_address_sends_nothing(world):
    world.active_account()
    before = len(world.events("account.activation_requested"))
    world.handle(handlers.resend_activation, commands.ResendActivation("anna@example.com"))
    world.handle(handlers.resend_activation, commands.ResendActivation("nobody@example.com"))
    assert len(world.events("account.activation_requested")) == before


def test_the_directory_being_down_is_not_a_mismatch(world):
    world.directory.down = True
    with pytest.raises(errors.DirectoryUnavailable):
        register(world)
    assert world.repo.client_attempts == {}  # not a mismatch: nothing counted


# ------------------------------------------------------------------------------------ accepting the declaration
def test_without_a_declaration_registration_needs_it_accepted_and_saves_nothing_otherwise(world):
    with pytest.raises(errors.InvalidFields) as invalid:
        register(world, accept=False)
    assert invalid.value.codes == {"accept_declaration": ["required"]}
    assert world.repo.accounts == {} and world.repo.declarations == [] and world.repo.tokens == {}
    assert world.published == []


def test_the_declaration_error_comes_together_with_the_other_field_errors(world):
    register(world)
    with pytest.raises(errors.InvalidFields) as invalid:
        register(world, world.bela, username="Minta.Anna", accept=False)
    assert invalid.value.codes == {"username": ["username_taken"], "accept_declaration": ["required"]}
    assert [a.customer_id for a in world.repo.accounts.values()] == ["C-1001"]


def test_an_accepted_declaration_is_recorded_with_channel_registration(world):
    register(world, accept=True)
    [declaration] = world.repo.declarations
    assert declaration.channel == "registration" and declaration.active


def test_whoever_has_an_active_declaration_need_not_accept_it_again(world):
    declare(world)
    register(world, accept=False)
    assert len(world.events("customer.declared")) == 1


def test_a_withdrawn_declaration_must_be_accepted_again(world):
    declare(world)
    world.handle(handlers.withdraw_declaration, commands.WithdrawDeclaration("C-1001"))
    with pytest.raises(errors.InvalidFields) as invalid:
        register(world, accept=False)
    assert invalid.value.codes == {"accept_declaration": ["required"]}
    register(world, accept=True)
    assert world.handle(handlers.get_declaration, "C-1001").channel == "registration"


# ------------------------------------------------------------------------------------ pending accounts expire
def test_a_pending_account_with_a_valid_link_blocks_a_new_registration(world):
    register(world, email="anna@exmaple.com")
    world.clock.advance(hours=23, minutes=59)
    with pytest.raises(errors.ActivationPending):
        register(world, username="anna.masodszor")


def test_a_pending_account_whose_link_expired_is_replaced_and_its_username_set_free(world):
    typo = register(world, email="anna@exmaple.com")  # the link went to a mistyped address
    old_link = token_of(world)
    world.clock.advance(hours=24)
    again = register(world, email="anna@example.com")  # the same username, the right address
    assert again.account_id != typo.account_id and again.username == "minta.anna"
    assert typo.status == "expired" and typo.username == "minta.anna" and typo.username_key != "minta.anna"
    assert world.repo.open_account_of("C-1001") is again
    assert len(world.events("customer.declared")) == 1  # the declaration of the first registration stays
    with pytest.raises(errors.TokenInvalid):
        activate(world, old_link)
    assert activate(world, token_of(world)).account_id == again.account_id


def test_a_resent_link_keeps_the_pending_account_alive(world):
    register(world)
    world.clock.advance(hours=20)
    world.handle(handlers.resend_activation, commands.ResendActivation("anna@example.com"))
    world.clock.advance(hours=5)  # the first link expired, the resent one has not
    with pytest.raises(errors.ActivationPending):
        register(world, username="anna.masodszor")


def test_a_refused_replacement_changes_nothing(world):
    typo = register(world, email="anna@exmaple.com")
    world.active_account(username="foglalt.nev", ident=world.bela, email="bela@example.com")
    world.clock.advance(hours=25)
    with pytest.raises(errors.InvalidFields):
        register(world, username="foglalt.nev")
    assert typo.status == "pending_activation" and typo.username_key == "minta.anna"


def test_an_expired_account_can_be_replaced_again_and_is_never_resent(world):
    first = register(world, email="anna@exmaple.com")
    world.clock.advance(hours=25)
    second = register(world, email="anna@exmaple2.com")
    world.clock.advance(hours=25)
    third = register(world)
    assert (first.status, second.status, third.status) == ("expired", "expired", "pending_activation")
    before = len(world.events("account.activation_requested"))
    world.handle(handlers.resend_activation, commands.ResendActivation("anna@exmaple.com"))
    assert len(world.events("account.activation_requested")) == before


def test_an_active_account_still_blocks_for_good(world):
    world.active_account()
    world.clock.advance(days=30)
    with pytest.raises(errors.AlreadyRegistered):
        register(world, username="anna.masodszor")
