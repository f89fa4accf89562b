"""multipart/form-data parsing and the hints field of ``colorcli serve``."""

from __future__ import annotations

import os

import pytest
from serve_support import multipart

from colorcli.errors import HintError
from colorcli.serve import RequestError, parse_form, parse_hints_json


def test_binary_files_and_text_fields_come_back_exactly() -> None:
    data = os.urandom(200_000) + b"\r\n\r\n--\r"  # line breaks and dashes at the end too
    content_type, body = multipart({"hints": "[]", "saturation": "0.5"}, {"image": ("a.png", data)})
    form = parse_form(content_type, body)
    assert form["image"].data == data and form["image"].filename == "a.png"
    assert form["hints"].text() == "[]" and form["hints"].filename is None
    assert form["saturation"].text() == "0.5"


def test_quoted_and_utf8_file_names() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="image"; '
        b'filename="gr\xc3\xa4ndma \\"1\\".png"\r\n\r\nxyz\r\n--b--\r\n'
    )
    form = parse_form("multipart/form-data; boundary=b", body)
    assert form["image"].filename == 'grändma "1".png'
    assert form["image"].data == b"xyz"


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("application/json", b"{}", 415, "expected a multipart/form-data upload"),
        ("multipart/form-data", b"", 400, "no valid boundary"),
        ("multipart/form-data; boundary=b", b"nothing", 400, "no opening boundary"),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\ncut off',
            400,
            "truncated",
        ),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
            400,
            "has no Content-Disposition name",
        ),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
            b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n2\r\n--b--\r\n',
            400,
            "field 'a' is given twice",
        ),
    ],
)
def test_malformed_forms_are_refused(
    content_type: str, body: bytes, status: int, message: str
) -> None:
    with pytest.raises(RequestError, match=message) as caught:
        parse_form(content_type, body)
    assert caught.value.status == status


def test_too_many_fields_are_refused() -> None:
    content_type, body = multipart({f"f{i}": "x" for i in range(17)})
    with pytest.raises(RequestError, match="too many form fields"):
        parse_form(content_type, body)


def test_hints_json_gives_pixel_points() -> None:
    text = '[{"x": 0.5, "y": 3, "color": "#c0392b"}, {"x": 7, "y": 1, "color": "red"}]'
    points = parse_hints_json(text)
    assert [(p.x, p.y, p.rgb, p.relative) for p in points] == [
        (0.5, 3.0, (192, 57, 43), False),  # pixels, even when written as a fraction
        (7.0, 1.0, (255, 0, 0), False),
    ]
    assert parse_hints_json("") == [] and parse_hints_json("[]") == []


@pytest.mark.parametrize(
    "text",
    [
        '[{"x": true, "y": 1, "color": "red"}]',
        '[{"x": 1, "color": "red"}]',
        '[{"x": 1, "y": 1e999, "color": "red"}]',
        '[{"x": 1, "y": 1, "color": 5}]',
        "[1, 2]",
        '{"x": 1}',
        "[" + ",".join(['{"x": 1, "y": 1, "color": "red"}'] * 257) + "]",
    ],
)
def test_bad_hints_json_is_a_hint_error(text: str) -> None:
    with pytest.raises(HintError):
        parse_hints_json(text)
