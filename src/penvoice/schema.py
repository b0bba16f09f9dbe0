"""The schema version this build needs: the newest file in `migrations/`.

A test checks that this equals the newest migration, so the two cannot drift. Readiness
accepts this version or a newer one: during a canary the previous release keeps running
against the schema the new release migrated to (migrations are expand/contract-safe).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from penvoice.migrate.state import SchemaState

SCHEMA_VERSION = 28


def schema_problem(state: SchemaState) -> str | None:
    """Why this build cannot serve a database whose migrations are at `state`, or None
    (the API's and the worker's readiness)."""
    if state.dirty:
        return f"schema version {state.version} is dirty"
    if state.version is None or state.version < SCHEMA_VERSION:
        return f"schema at version {state.version}, this build needs {SCHEMA_VERSION}"
    return None
