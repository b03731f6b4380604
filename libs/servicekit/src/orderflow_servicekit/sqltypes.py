"""Column types for money that stay exact on PostgreSQL and SQLite."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

_CENT = Decimal("0.01")


class Amount(TypeDecorator[Decimal]):
    """A money amount with two decimals.

    PostgreSQL stores `numeric(12, 2)`. SQLite has no decimal type and would go through a float,
    so there it is stored as its exact decimal text.
    """

    impl = Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(24))
        return dialect.type_descriptor(Numeric(12, 2, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantized = Decimal(value).quantize(_CENT)
        return str(quantized) if dialect.name == "sqlite" else quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(_CENT)
