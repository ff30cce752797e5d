"""Access-log lines never carry the codes of emailed links."""

from __future__ import annotations

import logging

import pytest


def test_uvicorn_access_log_redacts_link_secrets(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("uvicorn.access")
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logger.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:5000",
            "GET",
            "/password-reset?userID=3&code=s3cr3t-code&x=1",
            "1.1",
            200,
        )
    [record] = caplog.records
    line = record.getMessage()
    assert "s3cr3t-code" not in line and "/password-reset?userID=3&code=REDACTED&x=1" in line
