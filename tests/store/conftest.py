"""Store tests run on SQLite and PostgreSQL (fixtures in tests/dbfixtures.py)."""

from dbfixtures import cheap_password_hashes, db_url, postgres_url

__all__ = ["cheap_password_hashes", "db_url", "postgres_url"]
