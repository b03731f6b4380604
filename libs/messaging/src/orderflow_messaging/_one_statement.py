"""The outbox and inbox as parts of one-statement units of work on PostgreSQL.

A hot path may store its state change, its inbox row and its outbox row with one statement of
data-modifying CTEs, run on the driver (asyncpg): one statement is one transaction, without BEGIN
and COMMIT round trips. The library owns the outbox and inbox tables, so a service asks for their
parts here and writes only its own; a column added to either table changes this module, not the
services. Each part is SQL text with asyncpg's numbered parameters (`$n`): build it once, at
import, never per message. Elsewhere (SQLite) the same work goes through `add_to_outbox` and
`Inbox.handle_once`, which store the same rows.
"""

from __future__ import annotations

import re

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql.base import PGDialect

from orderflow_messaging._message import OutgoingMessage
from orderflow_messaging._outbox_table import encode_attributes

_OUTBOX_PARAMETERS = 5
"""How many parameters `outbox_insert` takes, in the order `outbox_values` gives them."""

OutboxValues = tuple[str, str, str, str, str | None]


_PARAMETER = re.compile(r"\$[1-9][0-9]*")


# SQLAlchemy's dialect constructor has no annotations; its preparer quotes like PostgreSQL does.
_PREPARER = PGDialect().identifier_preparer  # type: ignore[no-untyped-call]


def _name(table: Table) -> str:
    return _PREPARER.format_table(table)


def _parameter(text: str) -> str:
    # Only placeholders go where values go: a value pasted into the SQL would be an injection.
    if not _PARAMETER.fullmatch(text):
        raise ValueError(f"{text!r} is not a numbered parameter such as $1")
    return text


def outbox_insert(table: Table, *, first: int, at: str, when: str = "TRUE") -> str:
    """`INSERT ... SELECT ... RETURNING 1` of one outbox row: a CTE member, or the statement's end.

    first: the number of the first of the row's five parameters ($first onwards),
        bound to `outbox_values(queue, message)`.
    at: the parameter that holds the row's creation time, also when it is due (e.g. "$6").
    when: the condition under which the row goes in (e.g. "EXISTS (SELECT FROM placed)").
    """
    p = [f"${n}" for n in range(first, first + _OUTBOX_PARAMETERS)]
    at = _parameter(at)
    # Identifiers quoted by the dialect and numbered placeholders only: nothing from a message.
    return (
        f"INSERT INTO {_name(table)}\n"
        "    (id, queue, body, attributes, group_id, created_at, available_at, attempts)\n"
        f"SELECT {p[0]}::varchar, {p[1]}::varchar, {p[2]}::text, {p[3]}::text, {p[4]}::varchar,\n"
        f"    {at}::timestamptz, {at}::timestamptz, 0\n"
        f"WHERE {when}\n"
        "RETURNING 1"
    )


def outbox_values(queue: str, message: OutgoingMessage) -> OutboxValues:
    """The values of `outbox_insert`'s parameters for `message` bound for `queue`."""
    return (message.id, queue, message.body, encode_attributes(message), message.group_id)


def inbox_insert(
    table: Table, *, consumer: str, message_id: str, at: str, when: str = "TRUE"
) -> str:
    """`INSERT ... ON CONFLICT DO NOTHING RETURNING 1` of an inbox row: a row comes back only
    for a message not handled before, so `EXISTS (SELECT FROM <this CTE>)` gates the effect.

    consumer, message_id, at: the parameters holding them (e.g. "$1", "$2", "$3").
    when: the condition under which the row goes in (e.g. "EXISTS (SELECT FROM current)").
    """
    consumer, message_id, at = _parameter(consumer), _parameter(message_id), _parameter(at)
    return (
        f"INSERT INTO {_name(table)} (consumer, message_id, processed_at)\n"
        f"SELECT {consumer}::varchar, {message_id}::varchar, {at}::timestamptz\n"
        f"WHERE {when}\n"
        "ON CONFLICT (consumer, message_id) DO NOTHING\n"
        "RETURNING 1"
    )


def inbox_seen(table: Table, *, consumer: str = "$1", message_id: str = "$2") -> str:
    """`SELECT 1` when the inbox holds the message for the consumer (no row when it does not)."""
    consumer, message_id = _parameter(consumer), _parameter(message_id)
    return (
        f"SELECT 1 FROM {_name(table)} "  # noqa: S608
        f"WHERE consumer = {consumer}::varchar AND message_id = {message_id}::varchar"
    )
