"""Repository port and its adapters."""
from __future__ import annotations

import abc

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..domain import model
from . import orm


class AbstractRepository(abc.ABC):
    def __init__(self):
        self.seen: set[model.Policy] = set()

    def get_policy(self, policy_number: str) -> model.Policy | None:
        policy = self._get_policy(policy_number)
        if policy is not None:
            self.seen.add(policy)
        return policy

    @abc.abstractmethod
    def _get_policy(self, policy_number: str) -> model.Policy | None: ...

    @abc.abstractmethod
    def add_policy(self, policy: model.Policy) -> None: ...

    @abc.abstractmethod
    def get_policyholder(self, customer_id: str) -> model.Policyholder | None: ...

    @abc.abstractmethod
    def add_policyholder(self, holder: model.Policyholder) -> None: ...

    @abc.abstractmethod
    def policies_of(self, customer_id: str) -> list[model.Policy]: ...


class SqlAlchemyRepository(AbstractRepository):
    def __init__(self, session: Session, read=None):
        super().__init__()
        self.session = session
        #: runs one read-only Core statement -> rows (the unit of work's ``read``: outside the ORM Session)
        self.read = read or (lambda statement, params=None: session.execute(statement, params).all())

    def _get_policy(self, policy_number):
        return self.session.get(model.Policy, policy_number)

    def add_policy(self, policy):
        self.session.add(policy)
        self.seen.add(policy)

    def get_policyholder(self, customer_id):
        return self.session.get(model.Policyholder, customer_id)

    def add_policyholder(self, holder):
        self.session.add(holder)

    def policies_of(self, customer_id):
        # Read-only (every /home asks it): Core rows made into plain Policy objects, not loaded through the ORM's
        # identity map — a fraction of the cost. Nothing may change them: they belong to no session.
        rows = self.read(_POLICIES_OF, {"customer_id": customer_id})
        return [model.Policy(**row._mapping) for row in rows]


_POLICIES_OF = (select(*orm.policies.c).where(orm.policies.c.customer_id == bindparam("customer_id"))
               .order_by(orm.policies.c.policy_number))


class FakeRepository(AbstractRepository):
    def __init__(self, policies=(), holders=()):
        super().__init__()
        self._policies = {p.policy_number: p for p in policies}
        self._holders = {h.customer_id: h for h in holders}

    def _get_policy(self, policy_number):
        return self._policies.get(policy_number)

    def add_policy(self, policy):
        self._policies[policy.policy_number] = policy
        self.seen.add(policy)

    def get_policyholder(self, customer_id):
        return self._holders.get(customer_id)

    def add_policyholder(self, holder):
        self._holders[holder.customer_id] = holder

    def policies_of(self, customer_id):
        return sorted((p for p in self._policies.values() if p.customer_id == customer_id),
                      key=lambda p: p.policy_number)
