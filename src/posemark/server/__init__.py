"""The annotation server: FastAPI routers over the services, plus the static web editor."""

from posemark.server.app import create_app

__all__ = ["create_app"]
