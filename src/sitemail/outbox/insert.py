"""Insert many outbox rows without the ORM's per-field work: COPY on PostgreSQL, one multi-row
INSERT per batch elsewhere.

`bulk_create` spends more time compiling (a placeholder and three method calls per field per
row) than the database spends storing the rows; here the statement is written once per batch
size and only values that need converting (dates, JSON, bytes) go through their field. On
PostgreSQL even that statement costs: psycopg splits a query of ~11,000 placeholders on every
call, so rows go through COPY instead, with ids taken from the sequence first (measured 2,060
-> 3,050 emails/s enqueued, render and build included).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models, router

from sitemail.outbox.models import OutboxMessage

# Fields whose database value is the Python value itself when it is a str or an int.
Fields = list["models.Field[Any, Any]"]
_PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


def _converter(field: models.Field[Any, Any], connection: Any) -> Callable[[Any], Any]:
    plain = isinstance(field, _PLAIN_FIELDS)
    last: list[Any] = [None, None]  # rows of one enqueue share `now`: convert it once

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if plain and isinstance(value, str | int):
            return value
        if value is not last[0]:
            last[0], last[1] = value, field.get_db_prep_save(value, connection=connection)
        return last[1]

    return convert


def insert_many(rows: Sequence[OutboxMessage], batch_size: int = 500) -> None:
    """INSERT `rows` (new, unsaved) in the current transaction; sets their primary keys."""
    if not rows:
        return
    using = router.db_for_write(OutboxMessage)
    connection = connections[using]
    pk = OutboxMessage._meta.pk
    assert pk is not None
    fields = [f for f in OutboxMessage._meta.concrete_fields if f is not pk]
    # auto_now_add and the like: what Model.save and bulk_create call before inserting.
    pre_save = [f for f in fields if type(f).pre_save is not models.Field.pre_save]
    attnames = [f.attname for f in fields]
    converters = [_converter(f, connection) for f in fields]

    def values(row: OutboxMessage) -> list[Any]:
        for field in pre_save:
            field.pre_save(row, True)
        v = row.__dict__
        return [convert(v[name]) for convert, name in zip(converters, attnames, strict=True)]

    if connection.vendor == "postgresql":
        _copy(connection, rows, values, fields)
    else:
        _insert(connection, rows, values, fields, batch_size)
    for row in rows:
        row._state.adding = False
        row._state.db = using


Values = Callable[[OutboxMessage], list[Any]]


def _copy(connection: Any, rows: Sequence[OutboxMessage], values: Values, fields: Fields) -> None:
    """PostgreSQL: ids from the table's sequence, then one COPY of all rows."""
    meta, ops = OutboxMessage._meta, connection.ops
    assert meta.pk is not None
    columns = ", ".join(ops.quote_name(c) for c in [meta.pk.column, *(f.column for f in fields)])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(rows)],
        )
        ids = [r[0] for r in cursor.fetchall()]
        # psycopg's own cursor, past Django's wrapper: map its errors to django.db's here.
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(
                f"COPY {ops.quote_name(meta.db_table)} ({columns}) FROM STDIN"
            ) as copy,
        ):
            for pk_value, row in zip(ids, rows, strict=True):
                copy.write_row([pk_value, *values(row)])
                row.pk = pk_value


def _insert(
    connection: Any, rows: Sequence[OutboxMessage], values: Values, fields: Fields, batch_size: int
) -> None:
    """One multi-row INSERT per batch (RETURNING the ids where the database can)."""
    meta, ops = OutboxMessage._meta, connection.ops
    assert meta.pk is not None
    table = ops.quote_name(meta.db_table)
    columns = ", ".join(ops.quote_name(f.column) for f in fields)
    one_row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    returning = connection.features.can_return_rows_from_bulk_insert
    # The message id is unique: matching on it does not depend on RETURNING's row order.
    suffix = (
        f" RETURNING {ops.quote_name(meta.pk.column)}, {ops.quote_name('message_id')}"
        if returning
        else ""
    )
    size = max(1, min(batch_size, ops.bulk_batch_size(fields, rows) or batch_size))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            params: list[Any] = []
            for row in batch:
                params.extend(values(row))
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([one_row] * len(batch))}"  # noqa: S608
                + suffix,
                params,
            )
            if returning:
                by_id = {row.message_id: row for row in batch}
                for pk_value, message_id in cursor.fetchall():
                    by_id[message_id].pk = pk_value
