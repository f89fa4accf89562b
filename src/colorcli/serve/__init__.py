"""``colorcli serve``: a local web page and HTTP API to colourize photos with hints."""

from __future__ import annotations

from colorcli.serve.forms import FormField, RequestError, parse_form
from colorcli.serve.server import ColorizeServer, JobQueue, ServeSettings
from colorcli.serve.service import ColorizeService, EncodedImage, parse_hints_json, served_name

__all__ = [
    "ColorizeServer",
    "ColorizeService",
    "EncodedImage",
    "FormField",
    "JobQueue",
    "RequestError",
    "ServeSettings",
    "parse_form",
    "parse_hints_json",
    "served_name",
]
