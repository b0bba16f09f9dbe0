"""SQL shared by the resources archived instead of deleted (customers, tax rates).

Each resource's repository keeps its table, its columns and its own filters; what they share
is the shape of the list (one organisation, newest first, a keyset page, archived or not) and
of the update (the changed columns, `archived` stored as `archived_at`, a version bump).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID


def list_query(table: str, columns: str, *filters: str) -> str:
    """A page of one organisation's rows, newest first, either the archived ones or the others.

    Parameters, as `list_args` orders them: $1 the organisation, $2 and $3 the (created_at, id)
    the page starts after (null for the first page), $4 archived or not, $5 the row limit. Each
    of `filters` is one more condition, using the parameters from $6 on.
    """
    conditions = "".join(f"\n          AND {condition}" for condition in filters)
    return f"""SELECT {columns} FROM {table}
        WHERE org_id = $1
          AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::uuid))
          AND (archived_at IS NOT NULL) = $4{conditions}
        ORDER BY created_at DESC, id DESC
        LIMIT $5"""  # noqa: S608 - fixed fragments only


def list_args(
    org_id: UUID,
    after: tuple[datetime, UUID] | None,
    archived: bool,
    limit: int,
    *filter_values: object,
) -> tuple[object, ...]:
    """The parameters of `list_query`; `limit + 1` rows, so the caller knows whether another
    page follows."""
    after_created, after_id = after or (None, None)
    return (org_id, after_created, after_id, archived, limit + 1, *filter_values)


def set_clause(changes: dict[str, Any], updatable: frozenset[str]) -> tuple[str, list[Any]]:
    """The `SET` list of an UPDATE whose $1 and $2 are the organisation and the row, and the
    values of its parameters from $3 on.

    `changes` holds columns of `updatable`, plus `archived: bool` (stamps or clears
    `archived_at`); the list always ends with the version bump and `updated_at = now()`.
    """
    columns = [name for name in changes if name != "archived"]
    if not updatable.issuperset(columns):
        raise ValueError(f"not updatable: {sorted(set(columns) - updatable)}")
    values = [changes[name] for name in columns]
    assignments = [f"{name} = ${i}" for i, name in enumerate(columns, start=3)]
    if "archived" in changes:
        values.append(changes["archived"])
        assignments.append(
            f"archived_at = CASE WHEN ${len(values) + 2}::boolean"
            " THEN coalesce(archived_at, now()) END"
        )
    assignments.append("version = version + 1, updated_at = now()")
    return ", ".join(assignments), values
