"""Use cases. Plain functions ``(command, uow)``; the HTTP API and the worker call the same ones."""
from __future__ import annotations

from datetime import date

from ..domain import commands, model
from .unit_of_work import AbstractUnitOfWork


class PolicyNotFound(Exception):
    pass


def upsert_policy(cmd: commands.UpsertPolicy, uow: AbstractUnitOfWork) -> bool:
    """Store the core system's view of a policy and its holder. An update older than the stored one is ignored
    (messages can arrive out of order). Returns whether anything was applied.

    ``policy.changed`` (for the gateway's cache, issue 9) when the message changes what a customer's policy list
    shows: a stored policy's shown fields (for its new and, when it changed hands, its former customer), or a new
    policy of a customer who already had one. A customer's first policy tells nobody: no portal user can have seen
    a list of theirs yet. A stale message, and one that changes nothing shown (a duplicate, a newer ``updated_at``
    alone, the holder's data), publish nothing."""
    with uow:
        policy = uow.policies.get_policy(cmd.policy_number)
        if policy is not None and policy.is_newer_than(cmd.updated_at):
            return False
        before = policy.shown() if policy is not None else None
        holder = uow.policies.get_policyholder(cmd.customer_id)
        holder_fields = dict(name=cmd.name, birth_name=cmd.birth_name, birth_date=cmd.birth_date,
                             birth_place=cmd.birth_place, mother_name=cmd.mother_name, email=cmd.email,
                             mobile=cmd.mobile, updated_at=cmd.updated_at)
        if holder is None:
            uow.policies.add_policyholder(model.Policyholder(customer_id=cmd.customer_id, **holder_fields))
        elif holder.updated_at is None or holder.updated_at <= cmd.updated_at:
            for key, value in holder_fields.items():
                setattr(holder, key, value)
        policy_fields = dict(product=cmd.product, status=cmd.status, payment_method=cmd.payment_method,
                             premium_amount=cmd.premium_amount, premium_frequency=cmd.premium_frequency,
                             start_date=cmd.start_date, customer_id=cmd.customer_id, updated_at=cmd.updated_at)
        if policy is None:
            policy = model.Policy(policy_number=cmd.policy_number, **policy_fields)
            uow.policies.add_policy(policy)
            if holder is not None:  # the customer's list had other policies: it gains one
                policy.changed(cmd.customer_id, cmd.updated_at)
        else:
            for key, value in policy_fields.items():
                setattr(policy, key, value)
            if policy.shown() != before:
                former = before[model.SHOWN.index("customer_id")]
                for customer_id in dict.fromkeys([former, cmd.customer_id]):
                    policy.changed(customer_id, cmd.updated_at)
        uow.commit()
        return True


def enrol_policy(cmd: commands.EnrolPolicy, uow: AbstractUnitOfWork) -> model.Policy:
    """Enrol one of the customer's policies into ePosta (cheque -> bank transfer). Idempotent."""
    with uow:
        policy = uow.policies.get_policy(cmd.policy_number)
        if policy is None or policy.customer_id != cmd.customer_id:
            raise PolicyNotFound(cmd.policy_number)  # someone else's policy looks exactly like a missing one
        policy.enrol_in_epost()
        uow.commit()
        return policy


def match_policyholder(uow: AbstractUnitOfWork, *, policy_number: str, name: str, birth_name: str,
                       birth_date: date, birth_place: str, mother_name: str):
    """Identify a policyholder by a policy number and natural identification data.
    Returns ``(holder, policies)`` or ``None`` — never which item failed."""
    with uow:
        number = policy_number.strip()
        # Policy numbers are printed in capitals; a customer typing "kgfb-100001" means the same policy.
        policy = uow.policies.get_policy(number) or uow.policies.get_policy(number.upper())
        if policy is None:
            return None
        holder = uow.policies.get_policyholder(policy.customer_id)
        if holder is None or not holder.matches(name=name, birth_name=birth_name, birth_date=birth_date,
                                                birth_place=birth_place, mother_name=mother_name):
            return None
        return holder, uow.policies.policies_of(holder.customer_id)


def policies_of(uow: AbstractUnitOfWork, customer_id: str) -> list[model.Policy]:
    with uow:
        return uow.policies.policies_of(customer_id)


def get_policy(uow: AbstractUnitOfWork, policy_number: str):
    with uow:
        policy = uow.policies.get_policy(policy_number)
        if policy is None:
            raise PolicyNotFound(policy_number)
        return policy, uow.policies.get_policyholder(policy.customer_id)
