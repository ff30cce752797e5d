"""Keep link secrets (reset codes, verification codes, unlock tokens) out of access logs."""

from __future__ import annotations

import logging
import re

# SECURITY: emailed links carry their secret in the query string; access logs must not.
_SECRET_PARAM = re.compile(r"(?<=[?&])(code|token|emailVerifyCode)=[^&\s]*")


def redact(path: str) -> str:
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=REDACTED", path)


class RedactLinkSecrets(logging.Filter):
    """For uvicorn's access log records, whose args are (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact(args[2]), args[3], args[4])
        return True


def install() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactLinkSecrets) for f in logger.filters):
        logger.addFilter(RedactLinkSecrets())
