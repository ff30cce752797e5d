"""The MIME body of an email written directly: multipart/alternative, quoted-printable parts."""

from __future__ import annotations

import binascii
import secrets

CRLF = b"\r\n"
MAX_QP_LINE = 76  # RFC 2045 6.7 (5): encoded lines, soft break included


def quoted_printable(text: str) -> bytes:
    """UTF-8 `text` as a quoted-printable body with CRLF line ends, ending in one.

    Line ends are normalised as EmailMessage.set_content does (CR, LF and CRLF all end a
    line), so the decoded part is `text` with CRLF line ends and a final one.
    """
    body = text.encode("utf-8")
    if b"\r" in body:
        body = b"\n".join(body.splitlines()) + b"\n"
    elif not body.endswith(b"\n"):
        body += b"\n"  # what splitlines and join give when there is no CR
    # binascii's encoder is C (email.quoprimime is pure Python): it escapes `=`, 8-bit bytes,
    # controls, whitespace before a line end and a line that is just "." (SMTP's end of data).
    encoded = binascii.b2a_qp(body, istext=True)
    # Only an escaped space or tab before a line end makes a line too long (see _rewrap).
    if (b"=20\n" in encoded or b"=09\n" in encoded) and max(
        map(len, encoded.split(b"\n"))
    ) > MAX_QP_LINE:
        encoded = _rewrap(encoded)
    return encoded.replace(b"\n", CRLF)


def _rewrap(encoded: bytes) -> bytes:
    """b2a_qp leaves a line of 77 or 78 characters when it escapes whitespace before a line
    end near the limit: break those again with soft line breaks, never inside an escape."""
    out = []
    for line in encoded.split(b"\n"):
        while len(line) > MAX_QP_LINE:
            cut = MAX_QP_LINE - 1  # room for the "=" of the soft break
            if line[cut - 1 : cut] == b"=":
                cut -= 1
            elif line[cut - 2 : cut - 1] == b"=":
                cut -= 2
            out.append(line[:cut] + b"=")
            line = line[cut:]
        out.append(line)
    return b"\n".join(out)


def _part(subtype: str, text: str) -> bytes:
    return (
        b"Content-Type: text/" + subtype.encode("ascii") + b'; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + quoted_printable(text)
    )


def alternative(text: str, html: str) -> tuple[str, bytes]:
    """(Content-Type field with its CRLF, body) of a multipart/alternative of `text` and `html`.

    The boundary starts with "=_", which no quoted-printable body can contain ("=" there is
    always an escape or a soft line break), so it never needs checking against the parts.
    """
    boundary = b"=_" + secrets.token_hex(16).encode("ascii")
    # RFC 2046 5.1.1: the CRLF before a delimiter belongs to the delimiter, not to the part.
    delimiter = CRLF + b"--" + boundary + CRLF
    body = b"".join(
        (
            CRLF,  # the empty line that ends the header section
            delimiter[2:],  # no preamble: the first delimiter starts the body
            _part("plain", text),
            delimiter,
            _part("html", html),
            CRLF + b"--" + boundary + b"--" + CRLF,
        )
    )
    field = f'Content-Type: multipart/alternative;\r\n boundary="{boundary.decode("ascii")}"\r\n'
    return field, body
