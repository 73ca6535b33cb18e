"""Alembic environment for the portal's database: run by ``portal.migrate.upgrade``.

The URL comes from the caller (the portal's settings), never from a file in the repository, so
a council's database password is not written anywhere by migrations.
"""

from __future__ import annotations

from alembic import context

from databook.database import Base, engine_for

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_for(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata,
                              render_as_batch=conn.dialect.name == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run()
