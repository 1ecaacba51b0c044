"""OpenAPI 3 document of the internal API. ``python -m identity.entrypoints.openapi`` writes
``contracts/http/identity.openapi.json``; a test checks the committed file equals :func:`build`."""
from __future__ import annotations

from portal_common import openapi
from portal_common.openapi import error as _err, json_body as _body, json_response as _json, path_param as _path_param

from . import schemas

CLIENT_IP = {"name": "X-Client-IP", "in": "header", "required": False, "schema": {"type": "string"},
             "description": "The end user's IP address (identification attempts, recovery and resend requests and "
                            "failed logins are limited per client)."}
EMPTY = {"description": "Accepted (the same answer whatever matched)",
         "content": {"application/json": {"schema": {"type": "object"}}}}


def build() -> dict:
    spec = openapi.service_spec("identity (internal API)",
                                "Declarations, registration, activation, login with lockout, sessions, recovery. "
                                "Every call needs the X-Service-Token header.", every_route=True)
    for name in ("DeclarationRequest", "IdentifiedWithdrawalRequest", "RegistrationRequest", "ResendRequest",
                 "LoginRequest", "PasswordChangeRequest", "RecoveryRequest", "CloseRequest", "FieldError", "Error",
                 "DeclarationCreated", "DeclarationOut", "WithdrawalOut", "RegistrationCreated", "ActivationOut",
                 "AccountOut", "SessionOut", "CallbackRequest", "CallbackCreated", "EmailChangeRequest",
                 "MobileChangeRequest", "MobileCode", "LanguageRequest", "ContactChangeOut", "RulesOut"):
        spec.components.schema(name, schema=getattr(schemas, name + "Schema"))

    spec.path("/internal/rules", operations={"get": {
        "summary": "The numbers of identity's rules the pages explain",
        "responses": {"200": _json("RulesOut", "The rules")}}})
    spec.path("/internal/declarations", operations={"post": {
        "summary": "Declare for electronic communication", "parameters": [CLIENT_IP],
        "requestBody": _body("DeclarationRequest"),
        "responses": {"201": _json("DeclarationCreated", "Recorded"),
                      "409": _err("already_declared"), "422": _err("identification_failed | invalid"),
                      "429": _err("throttled (retry_after seconds)"), "503": _err("policies service unavailable")}}})
    spec.path("/internal/declarations/withdraw", operations={"post": {
        "summary": "Withdraw the declaration without a portal login (identified like a declaration)",
        "parameters": [CLIENT_IP], "requestBody": _body("IdentifiedWithdrawalRequest"),
        "responses": {"200": _json("WithdrawalOut", "Withdrawn; customer.declaration_withdrawn published"),
                      "404": _err("no_declaration (none active: never declared, or withdrawn already)"),
                      "422": _err("identification_failed | invalid"),
                      "429": _err("throttled (retry_after seconds)"), "503": _err("policies service unavailable")}}})
    spec.path("/internal/declarations/{customer_id}", parameters=[_path_param("customer_id")], operations={"get": {
        "summary": "The customer's declaration",
        "responses": {"200": _json("DeclarationOut", "Active, else the last withdrawn"), "404": _err("not_found")}}})
    spec.path("/internal/declarations/{customer_id}/withdraw", parameters=[_path_param("customer_id")],
              operations={"post": {"summary": "Withdraw the declaration (back to paper post)",
                                   "responses": {"200": _json("DeclarationOut", "Withdrawn"),
                                                 "404": _err("not_found")}}})
    spec.path("/internal/registrations", operations={"post": {
        "summary": "Register a portal account", "parameters": [CLIENT_IP],
        "requestBody": _body("RegistrationRequest"),
        "responses": {"201": _json("RegistrationCreated", "Pending activation; activation e-mail queued"),
                      "422": _err("identification_failed | not_eligible | already_registered | activation_pending"
                                  " | invalid (fields, e.g. username_taken, accept_declaration: required)"),
                      "429": _err("throttled"), "503": _err("policies service unavailable")}}})
    spec.path("/internal/registrations/resend", operations={"post": {
        "summary": "Resend the activation link", "parameters": [CLIENT_IP], "requestBody": _body("ResendRequest"),
        "responses": {"202": EMPTY, "422": _err("invalid (email: invalid_email)"),
                      "429": _err("throttled (per client, shared with recovery)")}}})
    spec.path("/internal/activations/{token}", parameters=[_path_param("token")], operations={"post": {
        "summary": "Activate an account (the initial password goes by SMS)",
        "responses": {"200": _json("ActivationOut", "Activated"), "410": _err("expired | used | unknown")}}})
    spec.path("/internal/accounts/{account_id}", parameters=[_path_param("account_id")], operations={"get": {
        "summary": "An account", "responses": {"200": _json("AccountOut", "The account"),
                                               "404": _err("not_found")}}})
    spec.path("/internal/sessions", operations={"post": {
        "summary": "Log in", "parameters": [CLIENT_IP], "requestBody": _body("LoginRequest"),
        "responses": {"201": _json("SessionOut", "Logged in"),
                      "401": _err("invalid_credentials (known and unknown usernames alike)"),
                      "423": _err("locked (locked_until, lockout_threshold, lockout_hours; known and unknown "
                                  "usernames alike)"), "422": _err("invalid"),
                      "429": _err("throttled (too many failed logins from this client)")}}})
    spec.path("/internal/sessions/{session_id}", parameters=[_path_param("session_id")], operations={
        "get": {"summary": "A live session (slides the idle timer)",
                "responses": {"200": _json("SessionOut", "Live"), "404": _err("expired")}},
        "delete": {"summary": "Log out", "responses": {"204": {"description": "Logged out"}}}})
    spec.path("/internal/accounts/{account_id}/password", parameters=[_path_param("account_id")], operations={"post": {
        "summary": "Change the password (ends the other sessions)", "requestBody": _body("PasswordChangeRequest"),
        "parameters": [{"name": "X-Session-ID", "in": "header", "required": False, "schema": {"type": "string"},
                        "description": "The session to keep (else the most recently used one)"}],
        "responses": {"204": {"description": "Changed"}, "422": _err("invalid"), "404": _err("not_found"),
                      "423": _err("locked (a wrong current password counts towards the lockout; the one that "
                                  "locks ends every session)")}}})
    spec.path("/internal/recovery", operations={"post": {
        "summary": "Forgotten username or password", "parameters": [CLIENT_IP],
        "requestBody": _body("RecoveryRequest"),
        "responses": {"202": EMPTY, "422": _err("invalid (a field is missing, invalid_email, invalid_mobile)"),
                      "429": _err("throttled (per client, shared with resend)")}}})
    spec.path("/internal/accounts/{account_id}/close", parameters=[_path_param("account_id")], operations={"post": {
        "summary": "Close the account (and withdraw the active declaration)", "requestBody": _body("CloseRequest"),
        "responses": {"204": {"description": "Closed"}, "422": _err("invalid (password)"),
                      "404": _err("not_found"), "423": _err("locked (a wrong password counts towards the lockout)")}}})
    spec.path("/internal/callback-requests", operations={"post": {
        "summary": "Ask for a callback (customer.callback_requested)", "parameters": [CLIENT_IP],
        "requestBody": _body("CallbackRequest"),
        "responses": {"201": _json("CallbackCreated", "Stored and published"),
                      "200": _json("CallbackCreated", "The same idempotency_key again: the first request"),
                      "422": _err("invalid"), "429": _err("throttled (new requests per client)")}}})
    spec.path("/internal/accounts/{account_id}/email-change", parameters=[_path_param("account_id")], operations={
        "post": {"summary": "Ask to change the e-mail address (a link goes to the new one)",
                 "requestBody": _body("EmailChangeRequest"),
                 "responses": {"202": _json("ContactChangeOut", "Link sent"), "422": _err("invalid"),
                               "404": _err("not_found")}}})
    spec.path("/internal/email-changes/{token}", parameters=[_path_param("token")], operations={"post": {
        "summary": "Confirm the new e-mail address (customer.contact_changed)",
        "responses": {"200": _json("AccountOut", "Changed"), "410": _err("expired | used | unknown")}}})
    spec.path("/internal/accounts/{account_id}/mobile-change", parameters=[_path_param("account_id")], operations={
        "post": {"summary": "Ask to change the mobile number (a code goes to the new one by SMS)",
                 "requestBody": _body("MobileChangeRequest"),
                 "responses": {"202": _json("ContactChangeOut", "Code sent"), "422": _err("invalid"),
                               "404": _err("not_found")}}})
    spec.path("/internal/accounts/{account_id}/mobile-change/confirm", parameters=[_path_param("account_id")],
              operations={"post": {
                  "summary": "Confirm the new mobile number with the SMS code (customer.contact_changed)",
                  "requestBody": _body("MobileCode"),
                  "responses": {"200": _json("AccountOut", "Changed"), "422": _err("invalid (wrong_code)"),
                                "410": _err("expired (no pending change, timed out or too many wrong codes)"),
                                "404": _err("not_found")}}})
    spec.path("/internal/accounts/{account_id}/language", parameters=[_path_param("account_id")], operations={
        "put": {"summary": "Set the language of the customer's messages (customer.contact_changed)",
                "requestBody": _body("LanguageRequest"),
                "responses": {"200": _json("AccountOut", "Set"), "422": _err("invalid"), "404": _err("not_found")}}})
    return spec.to_dict()


SPEC = openapi.ServiceDocument("identity", build)

if __name__ == "__main__":
    SPEC.main()
