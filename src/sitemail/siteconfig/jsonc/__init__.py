"""JSONC, the site configuration's text format: parse.py reads it (values, paths, positions),
edit.py changes it in place keeping comments and trailing commas."""

from sitemail.siteconfig.jsonc.edit import dumps, replace_raw, replace_raw_in, set_path
from sitemail.siteconfig.jsonc.parse import (
    Document,
    JSONCError,
    Path,
    PathElem,
    format_path,
    get,
    get_path,
    parse,
)

__all__ = [
    "Document",
    "JSONCError",
    "Path",
    "PathElem",
    "dumps",
    "format_path",
    "get",
    "get_path",
    "parse",
    "replace_raw",
    "replace_raw_in",
    "set_path",
]
