"""File formats: one module per format, chosen through one explicit registry.

Importing this package registers the built-in formats (and nothing else) by calling
:func:`~posemark.formats.registry.register_builtin_formats` once; plugins call
:func:`register_format` themselves.
"""

from posemark.formats.registry import (
    FormatSpec,
    UnknownFormatError,
    detect_format,
    format_for_extension,
    get_format,
    list_formats,
    read,
    register_builtin_formats,
    register_format,
    sniff_format,
    unregister_format,
    validate,
    write,
)

__all__ = [
    "FormatSpec",
    "UnknownFormatError",
    "detect_format",
    "format_for_extension",
    "get_format",
    "list_formats",
    "read",
    "register_format",
    "sniff_format",
    "unregister_format",
    "validate",
    "write",
]

register_builtin_formats()
