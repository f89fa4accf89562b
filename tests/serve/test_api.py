"""The HTTP API of ``colorcli serve``, through a real client on a loopback port."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageCms
from serve_support import decode, encode, gray_photo, post_form, request, rgb_of

from colorcli.serve import ColorizeServer

PHOTO = encode(gray_photo())  # 60x40 PNG


def test_the_page_and_its_files_are_served_and_load_nothing_from_elsewhere(
    server: ColorizeServer,
) -> None:
    page = request(server.port, "GET", "/")
    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    for path in ("/app.js", "/style.css"):
        assert request(server.port, "GET", path).status == 200
        assert path.encode() in page.body
    for path in ("/", "/app.js", "/style.css"):
        body = request(server.port, "GET", path).body
        assert b"http://" not in body and b"https://" not in body and b"//cdn" not in body


def test_models_describes_the_served_model_and_the_published_ones(server: ColorizeServer) -> None:
    reply = request(server.port, "GET", "/api/models")
    assert reply.status == 200
    answer = reply.json()
    served = answer["served"]
    assert served["name"] == server.service.label
    assert served["accepts_hints"] is True and served["confidence"] is True
    assert served["size"] == 32 and served["saturation"] == 1.0
    names = [entry["name"] for entry in answer["models"]]
    assert names and all(isinstance(entry["local"], bool) for entry in answer["models"])
    assert sum(entry["default"] for entry in answer["models"]) == 1


def test_a_png_comes_back_as_a_png_of_its_size(server: ColorizeServer) -> None:
    reply = post_form(server.port, image=PHOTO, filename="grandma.png")
    assert reply.status == 200, reply.body[:200]
    assert reply.headers["Content-Type"] == "image/png"
    assert "grandma_color.png" in reply.headers["Content-Disposition"]
    result = decode(reply.body)
    assert result.format == "PNG" and result.size == (60, 40) and result.mode == "RGB"
    rgb = rgb_of(reply)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).max() > 0  # colour, not gray


def test_a_jpeg_comes_back_as_a_jpeg_with_its_exif_and_icc_profile(server: ColorizeServer) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010E] = "grandma on the beach"
    photo = encode(gray_photo(48, 64), "JPEG", quality=95, icc_profile=icc, exif=exif.tobytes())
    reply = post_form(server.port, image=photo, filename="beach.jpg")
    assert reply.status == 200, reply.body[:200]
    assert reply.headers["Content-Type"] == "image/jpeg"
    result = decode(reply.body)
    assert result.format == "JPEG" and result.size == (48, 64)
    assert result.info.get("icc_profile") == icc
    assert result.getexif()[0x010E] == "grandma on the beach"


def test_a_hint_changes_the_colour_near_it(server: ColorizeServer) -> None:
    plain = rgb_of(post_form(server.port, image=PHOTO))
    hints = json.dumps([{"x": 15, "y": 20, "color": "#1040ff"}])
    hinted = post_form(server.port, image=PHOTO, fields={"hints": hints})
    assert hinted.status == 200, hinted.body[:200]
    near = np.abs(rgb_of(hinted) - plain)[14:27, 8:23]
    assert near.max() > 2


def test_saturation_zero_gives_the_gray_photo_back(server: ColorizeServer) -> None:
    reply = post_form(server.port, image=PHOTO, fields={"saturation": "0"})
    rgb = rgb_of(reply)
    assert np.abs(rgb[..., 0] - rgb[..., 1]).max() <= 1
    assert np.abs(rgb[..., 0] - gray_photo().astype(np.int32)).max() <= 1


def test_a_reference_photo_is_used(server: ColorizeServer) -> None:
    reference = np.zeros((20, 20, 3), np.uint8)
    reference[..., 0] = 200  # all red
    plain = rgb_of(post_form(server.port, image=PHOTO))
    reply = post_form(server.port, image=PHOTO, reference=encode(reference))
    assert reply.status == 200, reply.body[:200]
    assert np.abs(rgb_of(reply) - plain).max() > 0


def test_the_confidence_map_is_a_gray_png_of_the_photos_size(server: ColorizeServer) -> None:
    hints = json.dumps([{"x": 5, "y": 5, "color": "red"}])
    reply = post_form(server.port, "/api/confidence", image=PHOTO, fields={"hints": hints})
    assert reply.status == 200, reply.body[:200]
    assert reply.headers["Content-Type"] == "image/png"
    rgb = rgb_of(reply)
    assert rgb.shape == (40, 60, 3)
    assert (rgb[..., 0] == rgb[..., 1]).all()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hints": "[{"}, "hints are not JSON"),
        ({"hints": '{"x": 1}'}, "hints must be a JSON list"),
        ({"hints": '[{"x": -1, "y": 2, "color": "red"}]'}, "coordinates must be numbers >= 0"),
        (
            {"hints": '[{"x": 1, "y": 2, "color": "reddish"}]'},
            "unknown colour 'reddish': use #rrggbb, rgb(r, g, b) or a CSS name such as red",
        ),
        (
            {"hints": '[{"x": 90, "y": 2, "color": "red"}]'},
            "hint '90,2=red' is outside the 60×40 photo",
        ),
        ({"saturation": "lots"}, "saturation must be a number in 0-4, got 'lots'"),
        ({"saturation": "5"}, "saturation must be a number in 0-4"),
        ({"model": "nope"}, "unknown model 'nope'; available: "),
    ],
)
def test_a_bad_field_is_a_400_in_the_clis_words(
    server: ColorizeServer, fields: dict[str, str], message: str
) -> None:
    reply = post_form(server.port, image=PHOTO, fields=fields)
    assert reply.status == 400
    assert reply.headers["Content-Type"].startswith("application/json")
    assert message in reply.error


def test_a_request_cannot_load_a_checkpoint_path(
    server: ColorizeServer, regression_checkpoint
) -> None:
    reply = post_form(server.port, image=PHOTO, fields={"model": str(regression_checkpoint)})
    assert reply.status == 400
    assert reply.error.startswith(f"unknown model {str(regression_checkpoint)!r}")


def test_missing_or_broken_photos_are_400(server: ColorizeServer) -> None:
    missing = post_form(server.port, fields={"hints": "[]"})
    assert missing.status == 400
    assert missing.error == "no photo: send the image as the file field 'image'"
    broken = post_form(server.port, image=b"not an image at all", filename="notes.png")
    assert broken.status == 400
    assert broken.error == "notes: not an image, or a format Pillow cannot read"
    truncated = post_form(server.port, image=PHOTO[: len(PHOTO) // 2])
    assert truncated.status == 400 and "truncated or corrupt" in truncated.error


def test_a_model_without_hints_says_so(make_server, regression_checkpoint) -> None:
    server = make_server(regression_checkpoint)
    label = str(regression_checkpoint)
    hints = json.dumps([{"x": 5, "y": 5, "color": "red"}])
    reply = post_form(server.port, image=PHOTO, fields={"hints": hints})
    assert reply.status == 400
    assert reply.error == (
        f"model {label} takes no colour hints or reference; "
        "use a guided model (--model lite0-guided)"
    )
    assert post_form(server.port, image=PHOTO).status == 200
    # a regression model's confidence: agreement with its prediction for the mirrored photo
    assert post_form(server.port, "/api/confidence", image=PHOTO).status == 200


def test_wrong_methods_paths_and_types(server: ColorizeServer) -> None:
    assert request(server.port, "GET", "/nowhere").status == 404
    assert request(server.port, "GET", "/api/colorize").status == 405
    not_a_form = request(
        server.port, "POST", "/api/colorize", b"{}", {"Content-Type": "application/json"}
    )
    assert not_a_form.status == 415
    assert "expected a multipart/form-data upload" in not_a_form.error
    no_length = request(
        server.port,
        "POST",
        "/api/colorize",
        None,
        {"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert no_length.status == 411
