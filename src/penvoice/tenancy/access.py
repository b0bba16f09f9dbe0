"""Who may touch which organisation.

`UserTransaction` is the request's transaction with the principal's identity set for
row-level security. `AsViewer`, `AsMember`, `AsAdmin` and `AsOwner` resolve the `{org_id}`
path parameter to the caller's membership: a non-member gets 404 (the organisation's
existence does not leak), a member below the required role gets 403. After them, the
transaction is scoped to that organisation, so row-level security hides every other one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Depends, Path

from penvoice.auth import CurrentPrincipal, Principal
from penvoice.db import Connection, Transaction
from penvoice.errors import Forbidden, NotFound
from penvoice.tenancy import repository

Role = Literal["owner", "admin", "member", "viewer"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}

OrgID = Annotated[UUID, Path(description="The organisation's id.")]


async def _user_transaction(principal: CurrentPrincipal, conn: Transaction) -> Connection:
    email = principal.email if principal.email_verified else None
    await repository.enter_principal(conn, principal.subject, email)
    return conn


UserTransaction = Annotated[Connection, Depends(_user_transaction)]


@dataclass(frozen=True)
class OrgAccess:
    org_id: UUID
    principal: Principal
    role: Role

    @property
    def actor(self) -> str:
        return self.principal.subject

    def at_least(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def _require(minimum: Role) -> Callable[..., Awaitable[OrgAccess]]:
    async def org_access(
        org_id: OrgID, principal: CurrentPrincipal, conn: UserTransaction
    ) -> OrgAccess:
        role = await repository.enter_org_as_member(conn, org_id, principal.subject)
        if role is None:
            raise NotFound("No organisation with this id.")
        access = OrgAccess(org_id=org_id, principal=principal, role=role)  # type: ignore[arg-type]
        if not access.at_least(minimum):
            raise Forbidden(f"This needs the {minimum} role or higher; you are {role}.")
        return access

    return org_access


AsViewer = Annotated[OrgAccess, Depends(_require("viewer"))]
AsMember = Annotated[OrgAccess, Depends(_require("member"))]
AsAdmin = Annotated[OrgAccess, Depends(_require("admin"))]
AsOwner = Annotated[OrgAccess, Depends(_require("owner"))]
