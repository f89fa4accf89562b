"""The safety of ``colorcli serve``: Host and Origin checks, limits, queue, clean-up."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from serve_support import decode, encode, gray_photo, multipart, post_form, request

from colorcli.serve import ColorizeServer

PHOTO = encode(gray_photo())  # 60x40 PNG


@pytest.mark.parametrize(
    "host",
    ["evil.example:{port}", "evil.example", "127.0.0.1:1", "localhost.evil.example:{port}", ""],
)
def test_a_host_that_is_not_this_server_is_refused(server: ColorizeServer, host: str) -> None:
    """DNS rebinding: a page of evil.example, pointed at 127.0.0.1, sends its own name."""
    host = host.format(port=server.port)
    for method, path in (("GET", "/"), ("GET", "/api/models")):
        reply = request(server.port, method, path, host=host)
        assert reply.status == 403
        assert "does not name this server" in reply.error
    assert post_form(server.port, image=PHOTO, host=host).status == 403


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}"])
def test_loopback_names_of_this_server_are_served(server: ColorizeServer, host: str) -> None:
    reply = request(server.port, "GET", "/", host=host.format(port=server.port))
    assert reply.status == 200


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1:{port}"]
)
def test_a_post_from_another_site_is_403(server: ColorizeServer, origin: str) -> None:
    reply = post_form(server.port, image=PHOTO, headers={"Origin": origin.format(port=server.port)})
    assert reply.status == 403
    assert reply.error.startswith("cross-site request refused")


def test_a_post_from_the_page_or_without_origin_is_served(server: ColorizeServer) -> None:
    same = post_form(
        server.port, image=PHOTO, headers={"Origin": f"http://127.0.0.1:{server.port}"}
    )
    assert same.status == 200
    assert post_form(server.port, image=PHOTO).status == 200  # curl sends no Origin


def test_an_upload_over_the_byte_limit_is_413_before_it_is_read(make_server) -> None:
    server = make_server(max_upload_bytes=10_000)
    big = encode(np.random.default_rng(0).integers(0, 255, (100, 100), dtype=np.uint8))
    assert len(big) > 10_000
    reply = post_form(server.port, image=big)
    assert reply.status == 413
    assert reply.error.startswith("upload too large (0.0 MB; the limit is 0.01 MB")
    assert post_form(server.port, image=PHOTO).status == 200


def test_an_image_over_the_pixel_limit_or_a_bomb_is_413(make_server) -> None:
    server = make_server(max_pixels=2_000)
    too_large = post_form(server.port, image=PHOTO, filename="big.png")  # 2,400 pixels
    assert too_large.status == 413
    assert too_large.error == (
        "big: image too large (60x40 = 2,400 pixels; the limit is 2,000 pixels)"
    )
    bomb = encode(np.zeros((3000, 3000), np.uint8))  # 9 MP in a few kilobytes
    assert len(bomb) < 50_000
    reply = post_form(server.port, image=bomb, filename="bomb.png")
    assert reply.status == 413 and "image too large (3000x3000" in reply.error


class _Gate:
    """Holds the server's jobs until opened, and counts those that ran."""

    def __init__(self, server: ColorizeServer) -> None:
        self.opened = threading.Event()
        self.entered = threading.Event()
        self.ran = 0
        colorize = server.service.colorize

        def held(form, gone=lambda: False):
            self.entered.set()
            assert self.opened.wait(60)
            self.ran += 1
            return colorize(form, gone)

        server.service.colorize = held  # type: ignore[method-assign]


def test_a_full_queue_answers_503_and_frees_up(make_server) -> None:
    server = make_server(queue_size=1)
    gate = _Gate(server)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post_form, server.port, image=PHOTO)
        assert gate.entered.wait(60)
        busy = post_form(server.port, image=PHOTO)
        assert busy.status == 503
        assert busy.error == "the server is busy (1 photos waiting); try again in a moment"
        gate.opened.set()
        assert first.result().status == 200
    assert post_form(server.port, image=PHOTO).status == 200


def test_concurrent_requests_are_queued_and_all_answered(make_server) -> None:
    server = make_server(queue_size=8)
    photos = [encode(gray_photo(30 + 7 * i, 20 + 3 * i, seed=i)) for i in range(5)]
    with ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda photo: post_form(server.port, image=photo), photos))
    for i, reply in enumerate(replies):
        assert reply.status == 200
        assert decode(reply.body).size == (30 + 7 * i, 20 + 3 * i)


def _files_in(server: ColorizeServer) -> list[str]:
    return sorted(path.name for path in server.workdir.iterdir())


def test_a_client_that_leaves_during_the_upload_leaves_no_trace(make_server) -> None:
    server = make_server(queue_size=1)
    gate = _Gate(server)
    gate.opened.set()
    content_type, body = multipart(files={"image": ("photo.png", PHOTO)})
    with socket.create_connection(("127.0.0.1", server.port)) as client:
        client.sendall(
            f"POST /api/colorize HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
    # the place it reserved is free again (queue of 1), no job ran, no file is left
    deadline = time.monotonic() + 30
    while post_form(server.port, image=PHOTO).status == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gate.ran == 1  # only the request above
    assert _files_in(server) == []


def test_a_client_that_leaves_while_queued_has_its_job_dropped(make_server) -> None:
    server = make_server(queue_size=2)
    gate = _Gate(server)
    ran_models: list[bool] = []
    predict = server.service._served.predict

    def counting_predict(*args, **kwargs):
        ran_models.append(True)
        return predict(*args, **kwargs)

    server.service._served.predict = counting_predict  # type: ignore[method-assign]
    reservations = 0
    both_reserved = threading.Event()
    reserve = server.jobs.reserve

    def counting_reserve() -> None:
        nonlocal reservations
        reserve()
        reservations += 1
        if reservations == 2:
            both_reserved.set()

    server.jobs.reserve = counting_reserve  # type: ignore[method-assign]
    content_type, body = multipart(files={"image": ("photo.png", PHOTO)})
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(post_form, server.port, image=PHOTO)
        assert gate.entered.wait(60)
        with socket.create_connection(("127.0.0.1", server.port)) as client:
            client.sendall(
                f"POST /api/colorize HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            # its job holds the second place of the queue (of 2): the next request is refused
            # (waiting for it, not polling: a poll could take the place before it does)
            assert both_reserved.wait(60)
            assert post_form(server.port, image=PHOTO).status == 503
        gate.opened.set()
        assert first.result().status == 200
    assert post_form(server.port, image=PHOTO).status == 200
    assert gate.ran == 3  # the first, the one that left (dropped before the model), the last
    assert len(ran_models) == 2
    assert _files_in(server) == []


def test_the_temporary_folder_is_removed_when_the_server_closes(make_server) -> None:
    server = make_server()
    assert post_form(server.port, image=PHOTO).status == 200
    assert server.workdir.is_dir() and _files_in(server) == []
    server.close()
    assert not server.workdir.exists()
