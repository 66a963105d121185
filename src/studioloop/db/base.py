"""Declarative base shared by every domain's models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import DateTime, ForeignKeyConstraint, MetaData, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

# Stable constraint names keep Alembic autogenerate and `alembic check` deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def one_of(values: tuple[str, ...]) -> str:
    """`('a', 'b')` for a CHECK constraint's IN list. Not f"{tuple}": a one-element tuple
    would render as "('x',)", which is not SQL."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )


class TenantPrimaryKey:
    """The key of a tenant table: `(id, tenant_id)` in the database, so that Citus can
    distribute the table by tenant_id (docs/deploy.md, "Citus"), with `id` first so that a
    lookup by id alone still uses the index. The model's `tenant_id` column is declared with
    `primary_key=True`. The ORM still knows a row by its id alone (`session.get(Model, id)`):
    ids are random UUIDs made by the server, and row-level security shows one tenant's rows.
    """

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        primary_key=True,
        server_default=text("gen_random_uuid()"),
        sort_order=-1,
    )

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        args: dict[str, Any] = {"primary_key": [cls.__table__.c.id]}  # type: ignore[attr-defined]
        if issubclass(cast(type, cls), Timestamps):
            args.update(Timestamps.__mapper_args__)
        return args


def tenant_foreign_key(column: str, table: str, *, ondelete: str) -> ForeignKeyConstraint:
    """A reference to another tenant table's row as `(column, tenant_id) -> (id, tenant_id)`:
    both rows must be the same tenant's, and under Citus they live on the same shard.
    `SET NULL` clears `column` only (PostgreSQL 15+), never the row's tenant_id."""
    action = f"SET NULL ({column})" if ondelete == "SET NULL" else ondelete
    return ForeignKeyConstraint(
        [column, "tenant_id"], [f"{table}.id", f"{table}.tenant_id"], ondelete=action
    )


class Timestamps:
    # Fetch server-generated values (updated_at on UPDATE) in the same statement via
    # RETURNING, instead of a lazy load later that async sessions cannot do implicitly.
    __mapper_args__ = {"eager_defaults": True}

    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
