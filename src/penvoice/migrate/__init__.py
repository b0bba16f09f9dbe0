"""golang-migrate v4 compatible migrations for PostgreSQL (the image's `/app/migrate`).

`runner.Migrator` runs them, `cli.main` is the command line, `state.read_schema_state`
reads the applied version, `files.latest_version` the version a build expects.
"""
