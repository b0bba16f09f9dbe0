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
from penvoice.db import Connection, PooledConnection, Transaction
from penvoice.errors import Forbidden, NotFound
from penvoice.tenancy import repository

Role = Literal["owner", "admin", "member", "viewer"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}

OrgID = Annotated[UUID, Path(description="The organisation's id.")]


async def user_transaction(principal: CurrentPrincipal, conn: Transaction) -> Connection:
    """The declaration of `UserTransaction`; the edge enters the principal itself."""
    await repository.enter_principal(conn, principal.subject, verified_email(principal))
    return conn


UserTransaction = Annotated[Connection, Depends(user_transaction)]


def verified_email(principal: Principal) -> str | None:
    """Invitations match on the email only when the issuer verified it."""
    return principal.email if principal.email_verified else None


async def enter(conn: Connection, principal: Principal, org_id: UUID | None) -> str | None:
    """The principal, and the organisation when given: their role in it, or None."""
    return await repository.enter(conn, principal.subject, verified_email(principal), org_id)


def check_access(org_id: UUID, principal: Principal, role: str | None, minimum: Role) -> OrgAccess:
    """404 for a non-member (the organisation's existence does not leak), 403 below `minimum`."""
    if role is None:
        raise NotFound("No organisation with this id.")
    access = OrgAccess(org_id=org_id, principal=principal, role=role)  # type: ignore[arg-type]
    if not access.at_least(minimum):
        raise Forbidden(f"This needs the {minimum} role or higher; you are {role}.")
    return access


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


@dataclass(frozen=True)
class OneStatementRead:
    """A read answered in one statement: a pooled connection with no transaction open, who
    asks and, for organisation routes, which organisation and the role needed.

    The repository's statement enters the principal and the tenant itself (`ENTERED` in
    `tenancy.repository`) and returns the caller's role with the rows; `check` turns that
    role into `OrgAccess`, or 404/403, exactly as `AsViewer` does before other handlers."""

    conn: Connection
    principal: Principal
    org_id: UUID | None = None
    minimum: Role = "viewer"

    @property
    def subject(self) -> str:
        return self.principal.subject

    @property
    def email(self) -> str | None:
        return verified_email(self.principal)

    def check(self, role: str | None) -> OrgAccess:
        assert self.org_id is not None
        return check_access(self.org_id, self.principal, role, self.minimum)


async def principal_read(principal: CurrentPrincipal, conn: PooledConnection) -> OneStatementRead:
    """The declaration of `ReadAsPrincipal`; the edge builds it itself."""
    return OneStatementRead(conn, principal)


def _read(minimum: Role) -> Callable[..., Awaitable[OneStatementRead]]:
    async def org_read(
        org_id: OrgID, principal: CurrentPrincipal, conn: PooledConnection
    ) -> OneStatementRead:
        return OneStatementRead(conn, principal, org_id, minimum)

    org_read.read_role = minimum  # type: ignore[attr-defined]
    return org_read


def read_role_of(dependency: object) -> Role | None:
    """The role a `ReadAsViewer` dependency requires; None for anything else."""
    role: Role | None = getattr(dependency, "read_role", None)
    return role


ReadAsPrincipal = Annotated[OneStatementRead, Depends(principal_read)]
ReadAsViewer = Annotated[OneStatementRead, Depends(_read("viewer"))]


def _require(minimum: Role) -> Callable[..., Awaitable[OrgAccess]]:
    async def org_access(
        org_id: OrgID, principal: CurrentPrincipal, conn: UserTransaction
    ) -> OrgAccess:
        role = await enter(conn, principal, org_id)
        return check_access(org_id, principal, role, minimum)

    org_access.minimum_role = minimum  # type: ignore[attr-defined]
    return org_access


def minimum_role_of(dependency: object) -> Role | None:
    """The role an `AsViewer`…`AsOwner` dependency requires; None for anything else."""
    role: Role | None = getattr(dependency, "minimum_role", None)
    return role


AsViewer = Annotated[OrgAccess, Depends(_require("viewer"))]
AsMember = Annotated[OrgAccess, Depends(_require("member"))]
AsAdmin = Annotated[OrgAccess, Depends(_require("admin"))]
AsOwner = Annotated[OrgAccess, Depends(_require("owner"))]
