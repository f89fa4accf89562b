"""Parse the ``multipart/form-data`` bodies that the page of ``colorcli serve`` uploads.

The body is cut at its boundary with ``bytes.find``, and only each part's small header
block goes through the :mod:`email` package (quoting, RFC 2231 file names). The email
package's own multipart parser splits the whole body into lines in Python: about 2.5 s a
megabyte of JPEG data here, where this takes milliseconds.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
from dataclasses import dataclass

from colorcli.errors import ColorcliError

MAX_FIELDS = 16
"""Most parts one form may have (the page sends at most six)."""

_HEADER_PARSER = email.parser.BytesHeaderParser(policy=email.policy.HTTP)
_HEADER_END = b"\r\n\r\n"


class RequestError(ColorcliError):
    """A request the server refuses; ``status`` is the HTTP status that says why.

    Args:
        status: HTTP status code (4xx or 5xx).
        message: one line for the JSON ``{"error": …}``.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FormField:
    """One part of a form: a text field or an uploaded file.

    Attributes:
        name: the field's name.
        data: its bytes, exactly as sent.
        filename: the file name the browser gave an upload, or None for a text field.
        content_type: the part's declared type (``text/plain`` when none).
    """

    name: str
    data: bytes
    filename: str | None = None
    content_type: str = "text/plain"

    def text(self) -> str:
        """The field as UTF-8 text.

        Raises:
            RequestError: the bytes are not UTF-8 (400).
        """
        try:
            return self.data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise RequestError(400, f"field {self.name!r} is not UTF-8 text") from None


def form_boundary(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type header.

    Raises:
        RequestError: another type (415) or no boundary (400).
    """
    header = email.message.EmailMessage()
    header["content-type"] = content_type
    if header.get_content_type() != "multipart/form-data":
        raise RequestError(
            415, f"expected a multipart/form-data upload, got {content_type or 'no Content-Type'!r}"
        )
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not 1 <= len(boundary) <= 70:
        raise RequestError(400, "the multipart/form-data Content-Type has no valid boundary")
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        raise RequestError(400, "the multipart boundary is not ASCII") from None


def parse_form(content_type: str, body: bytes) -> dict[str, FormField]:
    """Split a ``multipart/form-data`` body (RFC 7578) into its fields, by name.

    Args:
        content_type: the request's Content-Type header (carries the boundary).
        body: the whole request body.

    Raises:
        RequestError: not multipart (415), malformed or truncated, a field without a name,
            the same name twice or more than :data:`MAX_FIELDS` parts (400).
    """
    delimiter = b"--" + form_boundary(content_type)
    start = body.find(delimiter)
    if start < 0 or (start > 0 and body[start - 2 : start] != b"\r\n"):
        raise RequestError(400, "malformed multipart body: no opening boundary")
    fields: dict[str, FormField] = {}
    position = start + len(delimiter)
    while not body.startswith(b"--", position):
        # after a delimiter: optional whitespace ("transport padding"), then CRLF
        line_end = body.find(b"\r\n", position)
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise RequestError(400, "malformed multipart body: bad boundary line")
        part_start = line_end + 2
        part_end = body.find(b"\r\n" + delimiter, part_start)
        if part_end < 0:
            raise RequestError(400, "malformed multipart body: truncated (no closing boundary)")
        if len(fields) == MAX_FIELDS:
            raise RequestError(400, f"too many form fields (at most {MAX_FIELDS})")
        field = _parse_part(body, part_start, part_end)
        if field.name in fields:
            raise RequestError(400, f"field {field.name!r} is given twice")
        fields[field.name] = field
        position = part_end + 2 + len(delimiter)
    return fields


def _parse_part(body: bytes, start: int, end: int) -> FormField:
    """The field in ``body[start:end]``: headers, a blank line, then the data."""
    if body.startswith(b"\r\n", start):  # no headers at all
        raise RequestError(400, "a form field has no Content-Disposition name")
    header_end = body.find(_HEADER_END, start, end)
    if header_end < 0:
        raise RequestError(400, "malformed multipart body: a part's headers do not end")
    headers = _HEADER_PARSER.parsebytes(body[start : header_end + len(_HEADER_END)])
    name = headers.get_param("name", header="content-disposition")
    if not isinstance(name, str) or not name:
        raise RequestError(400, "a form field has no Content-Disposition name")
    filename = headers.get_filename()
    return FormField(
        name=name,
        data=body[header_end + len(_HEADER_END) : end],
        filename=filename,
        content_type=headers.get_content_type(),
    )
