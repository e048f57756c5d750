"""The one error type the pure model raises.

Kept separate so formats, services and the server can catch model problems without
importing the classes that raise them.
"""

from __future__ import annotations


class PoseValidationError(ValueError):
    """A pose object was built from values that break its invariants.

    The message always states what was expected and what was found, so that a user
    reading it from a CLI or an API response can fix the input without a debugger.
    """
