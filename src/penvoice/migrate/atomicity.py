"""Is a migration file provably atomic, so that cancelling it rolls all of it back?

A file is sent as one simple-query message, which PostgreSQL runs in one implicit
transaction — unless the file ends or opens transactions itself (COMMIT, END, ROLLBACK,
a procedure CALL), or is a statement that cannot run in a transaction block (CREATE INDEX
CONCURRENTLY, VACUUM, CREATE DATABASE, ALTER SYSTEM, ...). This check is deliberately
conservative: a false "not atomic" only means an interrupted run waits for the file to
finish instead of cancelling it; a false "atomic" must not happen.
"""

from __future__ import annotations

import re

# Anywhere, even inside function bodies and comments (a DO block may COMMIT or CALL).
_ANYWHERE = re.compile(r"\b(COMMIT|ROLLBACK|ABORT|CALL)\b", re.IGNORECASE)
# Outside strings, comments and dollar-quoted bodies (plpgsql's BEGIN/END are fine there).
_TOP_LEVEL = re.compile(
    r"\b(END|CONCURRENTLY|VACUUM|DATABASE|SYSTEM|TABLESPACE|CLUSTER|REINDEX|PREPARE|"
    r"DISCARD|SUBSCRIPTION)\b",
    re.IGNORECASE,
)
_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d]\w*)?\$")


def is_provably_atomic(sql: str) -> bool:
    return not _ANYWHERE.search(sql) and not _TOP_LEVEL.search(top_level_text(sql))


def _is_ident_char(char: str) -> bool:
    return char.isalnum() or char in "_$"


def _skip_quoted(sql: str, start: int, quote: str, backslash: bool) -> int:
    """Index just after the literal/identifier opened at `start` (doubled quotes escape)."""
    index = start + 1
    while index < len(sql):
        if backslash and sql[index] == "\\":
            index += 2
            continue
        if sql[index] == quote:
            if sql.startswith(quote * 2, index):
                index += 2
                continue
            return index + 1
        index += 1
    return len(sql)


def _skip_block_comment(sql: str, start: int) -> int:
    depth, index = 1, start + 2
    while index < len(sql) and depth:
        if sql.startswith("/*", index):
            depth, index = depth + 1, index + 2
        elif sql.startswith("*/", index):
            depth, index = depth - 1, index + 2
        else:
            index += 1
    return index


def _skip_token(sql: str, index: int) -> int | None:
    """End of the string, comment, quoted identifier or dollar body at `index`, if any."""
    char = sql[index]
    previous = sql[index - 1] if index else " "
    if sql.startswith("--", index):
        newline = sql.find("\n", index)
        return len(sql) if newline < 0 else newline
    if sql.startswith("/*", index):
        return _skip_block_comment(sql, index)
    if char == "'":
        escapes = previous in "eE" and (index < 2 or not _is_ident_char(sql[index - 2]))
        return _skip_quoted(sql, index, "'", escapes)
    if char == '"':
        return _skip_quoted(sql, index, '"', backslash=False)
    if char == "$" and not _is_ident_char(previous):
        tag = _DOLLAR_TAG.match(sql, index)
        if tag:
            end = sql.find(tag.group(0), tag.end())
            return len(sql) if end < 0 else end + len(tag.group(0))
    return None


def top_level_text(sql: str) -> str:
    """`sql` with strings, quoted identifiers, comments and dollar-quoted bodies blanked."""
    out: list[str] = []
    index = 0
    while index < len(sql):
        end = _skip_token(sql, index)
        if end is None:
            out.append(sql[index])
            index += 1
        else:
            out.append(" ")
            index = end
    return "".join(out)
