"""Failed logins, kept so throttling holds across every server process.

A row per wrong password (or unknown name): who was tried and from where. Throttling
counts the rows of the last minutes per account and per client address; rows older
than the longest window are deleted as new ones come.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from posemark.store.models import Base, utcnow


class LoginFailure(Base):
    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_created_at", "username", "created_at"),
        Index("ix_login_failures_client_created_at", "client", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    client: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
