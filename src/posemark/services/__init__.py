"""Use cases shared by the CLI and the API: each is written once, here.

Modules are imported by their users (``posemark.services.stats`` ...) rather than
re-exported, so that importing one service does not pull in another's dependencies
(matplotlib for plots, for example).
"""
