"""Inputs are sacred: whatever the folder tree, names and options, ``colorize`` changes no input.

A property test (hypothesis) builds random input trees (names with spaces, unicode, bytes
that are not UTF-8, leading dashes, dots, brackets, up to 240 bytes; images of every kind,
broken and empty files, non-images, hidden files), adds traps (symlinks in the input tree
and in the output folder that lead outside, a hard link to an input under an output's
name, an old output) and runs ``colorize`` with random options, twice. After each run:

- every file outside ``-o``, every input and every link is byte-identical (or identical link);
- every new file is inside ``-o`` and decodes; nothing was written through a link;
- no temporary file is left; the command never crashes (exit 0, 1, or 2 for a usage error).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from PIL import Image
from robustness_support import partials_under, snapshot
from typer.testing import CliRunner, Result

from colorcli.cli.app import app
from colorcli.errors import ImageError
from colorcli.imageio import read_image

runner = CliRunner()

EXAMPLES = 25
EXAMPLES_SLOW = 300
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
"""Without the explain phase, which reruns a failure hundreds of times."""

_CHARACTERS = [*"abcXYZ019 -_.,'()[]{}#%&+=~@$!;", "é", "ß", "日", "🙂", "\u202e", "\udce9"]
"""Name characters: spaces, shell and rich-markup specials, accents, CJK, emoji, a
right-to-left override, and ``\\udce9`` (the byte 0xE9 of a Latin-1 name, not UTF-8)."""


def _bytes(name: str) -> int:
    return len(os.fsencode(name))


_plain_names = st.text(st.sampled_from(_CHARACTERS), min_size=1, max_size=14)
_long_names = st.builds(
    lambda char, count: char * count, st.sampled_from(["a", "é", "日", "🙂"]), st.integers(30, 240)
).map(lambda name: name[: max(1, len(name) * 236 // max(1, _bytes(name)))])
_special_names = st.sampled_from(["-rf", "--help", "-o", "..x", "...", "a..b", " ", "~", "$HOME"])
NAMES = st.one_of(_plain_names, _plain_names, _long_names, _special_names).filter(
    lambda name: name not in (".", "..") and _bytes(name) <= 240
)

KINDS = ["png", "jpg", "JPEG", "tif", "gif", "bmp", "webp", "colour.png", "png16"]
KINDS += ["broken.png", "empty.jpg", "txt", "hidden.png"]


@dataclass(frozen=True)
class Example:
    """One random tree, its traps and the options of the two runs."""

    files: list[tuple[tuple[str, ...], str, str]]
    """(sub-folders, name, kind) of each input file."""
    input_name: str
    output_place: str
    """"beside" the input folder, "inside" it, or the "same" folder."""
    traps: frozenset[str]
    options: list[str]
    second_options: list[str]


@st.composite
def examples(draw: st.DrawFn) -> Example:
    folder_names = st.one_of(_plain_names, _special_names).filter(lambda n: n not in (".", ".."))
    folders = st.lists(folder_names, max_size=2).map(tuple)
    files = draw(
        st.lists(
            st.tuples(folders, NAMES, st.sampled_from(KINDS)),
            min_size=1,
            max_size=7,
            unique_by=lambda entry: (entry[0], entry[1]),
        )
    )
    traps = draw(
        st.frozensets(
            st.sampled_from(["link-file", "link-folder", "out-link-file", "out-link-folder"])
            | st.sampled_from(["out-hard-link", "old-output", "user-file"])
        )
    )
    options = ["--workers", str(draw(st.sampled_from([0, 1]))), "--batch-size"]
    options.append(str(draw(st.sampled_from([1, 3]))))
    options += ["--ext", draw(st.sampled_from(["auto", "png", "jpg", "tif", "webp"]))]
    suffix = draw(st.sampled_from(["", "", "_color", " copy", "-", "é"]))
    if suffix:
        options.append(f"--suffix={suffix}")
    for flag in ("--recursive", "--overwrite", "--compare", "--skip-color"):
        if draw(st.booleans()):
            options.append(flag)
    second = list(options)
    if draw(st.booleans()):  # the second run flips --overwrite
        second = [o for o in options if o != "--overwrite"]
        if "--overwrite" not in options:
            second.append("--overwrite")
    return Example(
        files=files,
        input_name=draw(st.sampled_from(["in", "-in", "in put", "日本", "[in]"])),
        output_place=draw(st.sampled_from(["beside", "beside", "inside", "same"])),
        traps=traps,
        options=options,
        second_options=second,
    )


def _picture(kind: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(3, 20)), int(rng.integers(3, 20))
    gray = (rng.random((height, width)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    if kind == "colour.png":
        Image.fromarray(np.dstack([gray, gray[::-1], 255 - gray])).save(buffer, "PNG")
    elif kind == "png16":
        Image.fromarray(gray.astype(np.uint16) * 257).save(buffer, "PNG")
    elif kind == "broken.png":
        Image.fromarray(gray).save(buffer, "PNG")
        return buffer.getvalue()[: len(buffer.getvalue()) // 2]
    elif kind == "empty.jpg":
        return b""
    elif kind == "txt":
        return b"not an image\n"
    else:
        fmt = {"jpg": "JPEG", "JPEG": "JPEG", "tif": "TIFF", "hidden.png": "PNG"}.get(kind, kind)
        Image.fromarray(gray).save(buffer, fmt.upper())
    return buffer.getvalue()


def _file_name(name: str, kind: str) -> str:
    extension = {"colour.png": "png", "png16": "png", "broken.png": "png", "empty.jpg": "jpg"}
    extension["hidden.png"] = "png"
    stem = f".{name}" if kind == "hidden.png" else name
    return f"{stem}.{extension.get(kind, kind)}"


def _build(root: Path, example: Example) -> tuple[Path, Path, Path]:
    """Make the tree; returns (input folder, output folder, bait folder outside both)."""
    inputs = root / example.input_name
    inputs.mkdir()
    bait = root / "bait"
    bait.mkdir()
    (bait / "secret.png").write_bytes(_picture("png", 99))
    for index, (folders, name, kind) in enumerate(example.files):
        folder = inputs.joinpath(*folders)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / _file_name(name, kind)
        if not target.exists():
            target.write_bytes(_picture(kind, index))
    out = {"beside": root / "out", "inside": inputs / "out", "same": inputs}[example.output_place]
    out.mkdir(exist_ok=True)
    first = next(p for p in sorted(inputs.rglob("*")) if p.is_file() and p != out)
    planned = out / f"{first.stem}.png"
    if "link-file" in example.traps:
        (inputs / "linked.png").symlink_to(bait / "secret.png")
    if "link-folder" in example.traps:
        (inputs / "linked folder").symlink_to(bait, target_is_directory=True)
    if "out-link-file" in example.traps and not planned.exists():
        planned.symlink_to(bait / "secret.png")
    if "out-link-folder" in example.traps:
        for folders, _, _ in example.files:  # where recursive outputs of a sub-folder go
            if folders and not (out / folders[0]).exists():
                (out / folders[0]).symlink_to(bait, target_is_directory=True)
    if "out-hard-link" in example.traps:
        twin = out / f"{first.stem}.{first.suffix.lstrip('.').lower()}"
        if not twin.exists():
            os.link(first, twin)
    if "old-output" in example.traps and not (out / f"{first.stem}.jpg").exists():
        (out / f"{first.stem}.jpg").write_bytes(b"an old output")
    if "user-file" in example.traps:
        (out / "notes.txt").write_bytes(b"mine")
    return inputs, out, bait


def _is_inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _run(root: Path, inputs: Path, out: Path, model: Path, options: list[str]) -> Result:
    args = ["colorize", f"--output={out}", "--model", str(model), "--size", "32", "-q", *options]
    cwd = os.getcwd()
    os.chdir(root)
    try:  # the input folder by its relative name, after "--" (it may start with a dash)
        return runner.invoke(app, [*args, "--", inputs.name])
    finally:
        os.chdir(cwd)


def _check_run(
    result: Result,
    root: Path,
    inputs: Path,
    out: Path,
    before: dict[Path, tuple[str, str]],
    options: list[str],
) -> None:
    exit_code, output, exception = result.exit_code, result.output, result.exception
    assert exception is None or isinstance(exception, SystemExit), (exception, output)
    assert "Traceback" not in output, output
    same_without_suffix = out == inputs and not any(o.startswith("--suffix") for o in options)
    if same_without_suffix:
        assert exit_code == 2 and "is the input folder: add --suffix" in output, output
    elif exit_code == 2:  # e.g. images only in sub-folders, without --recursive
        assert "Error: no images found in" in output, output
    else:
        assert exit_code in (0, 1), output
    after = snapshot(root)
    event(f"exit code {exit_code}")
    event("wrote outputs" if after.keys() - before.keys() else "wrote nothing")
    overwrite = "--overwrite" in options
    for path, entry in before.items():
        is_input = _is_inside(path, inputs) and (out == inputs or not _is_inside(path, out))
        if is_input or not _is_inside(path, out) or not overwrite:
            assert after.get(path) == entry, (path, entry, after.get(path), output)
        else:  # an old output, or a link, in -o: --overwrite may replace it by a new file
            assert path in after, path
            assert after[path][0] == "file" or after[path] == entry, path
    for path in after.keys() - before.keys():
        assert _is_inside(path, out), (path, output)
        assert path.resolve().is_relative_to(out.resolve()), (path, output)
        if after[path][0] == "file":
            try:
                read_image(path)
            except ImageError as error:  # only an old output we were told to keep
                raise AssertionError(f"{path} is not a complete image: {error}") from None
    assert partials_under(root) == []


def _property(example: Example, model: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="sacred-"))
    try:
        inputs, out, _ = _build(root, example)
        before = snapshot(root)
        result = _run(root, inputs, out, model, example.options)
        _check_run(result, root, inputs, out, before, example.options)
        before = snapshot(root)
        again = _run(root, inputs, out, model, example.second_options)
        _check_run(again, root, inputs, out, before, example.second_options)
    finally:
        shutil.rmtree(root)


@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), phases=PHASES
)
@given(example=examples())
def test_inputs_are_never_changed_and_outputs_stay_inside(example: Example, tiny_model: Path):
    _property(example, tiny_model)


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES_SLOW,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=PHASES,
)
@given(example=examples())
def test_inputs_are_never_changed_and_outputs_stay_inside_many(example: Example, tiny_model: Path):
    _property(example, tiny_model)
