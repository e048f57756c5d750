"""The database: SQLAlchemy 2 models, the engine with per-backend settings, migrations.

SQLite (embedded, WAL) is the default and PostgreSQL the production database; both are
chosen by URL and run the same code and the same Alembic migrations.
"""

from posemark.store.engine import Store, normalise_db_url, open_store
from posemark.store.migrate import upgrade_to_head

__all__ = ["Store", "normalise_db_url", "open_store", "upgrade_to_head"]
