"""The schema version this build needs: the newest file in `migrations/`.

A test checks that this equals the newest migration, so the two cannot drift. Readiness
accepts this version or a newer one: during a canary the previous release keeps running
against the schema the new release migrated to (migrations are expand/contract-safe).
"""

SCHEMA_VERSION = 26
