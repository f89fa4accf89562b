"""Find the images and videos to colourize and plan each output path, refusing unsafe ones."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from colorcli.errors import ColorcliError, UsageError
from colorcli.imageio import IMAGE_EXTENSIONS

if TYPE_CHECKING:
    from colorcli.video import VideoResult

OUTPUT_EXTENSIONS = ("png", "jpg", "webp", "tif")
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts"}
    | {".mts", ".m2ts", ".3gp", ".ogv", ".vob", ".mxf", ".divx", ".dv"}
)
"""Lower-case suffixes treated as videos when scanning a folder (OpenCV's FFmpeg reads them)."""
VIDEO_OUTPUT_EXTENSIONS = ("mp4", "mkv", "mov", "avi")
"""Containers a colourized video can be written to (``--video-ext``)."""
_KEEP_FORMAT = {
    ".jpg": "jpg",
    ".jpeg": "jpg",
    ".png": "png",
    ".webp": "webp",
    ".tif": "tif",
    ".tiff": "tif",
    ".bmp": "bmp",
}


@dataclass(frozen=True)
class Job:
    """One input file and the output file planned for it."""

    source: Path
    output: Path
    relative: Path
    """Path of the source relative to the input it was found under (for messages)."""
    kind: Literal["image", "video"] = "image"
    compare: Path | None = None
    """Where the input|output side-by-side goes (``--compare``); None when not asked for."""
    confidence: Path | None = None
    """Where the confidence map goes (``--save-confidence``); None when not asked for."""

    @property
    def outputs(self) -> tuple[Path, ...]:
        """Every file this job writes: the collision checks and the clean-up cover them all."""
        extra = (path for path in (self.compare, self.confidence) if path is not None)
        return (self.output, *extra)


Status = Literal["done", "skipped", "failed"]
"""The fate of one photo or video."""


@dataclass(frozen=True)
class JobResult:
    """What happened to one photo or video job: its :data:`Status`, with a reason."""

    job: Job
    status: Status
    reason: str = ""
    video: VideoResult | None = None
    """A colourized video's geometry, codec, speed and flicker (videos that are done)."""


@dataclass
class Plan:
    """Jobs to run plus inputs refused (path, reason) or passed over (path, reason)."""

    jobs: list[Job]
    refused: list[tuple[Path, str]]
    ignored: int
    """Files in the input folders that are neither images nor videos (by extension)."""
    passed_over: list[tuple[Path, str]] = field(default_factory=list)
    """Photos and folders found but not taken as inputs, with why: inside the output
    folder, a link to a folder (without ``follow_links``), a link back into a folder
    already walked. Reported as skipped, never silently dropped."""


CONFIDENCE_SUFFIX = "_confidence"


def compare_path(output: Path) -> Path:
    """Where ``--compare`` writes the side-by-side of ``output``: ``<stem>_compare<suffix>``."""
    return output.with_name(f"{output.stem}_compare{output.suffix}")


def confidence_path(output: Path) -> Path:
    """Where the confidence map of ``output`` goes: ``<stem>_confidence.png`` beside it."""
    return output.with_name(f"{output.stem}{CONFIDENCE_SUFFIX}.png")


def check_inside(output: Path, root: Path | None, error: type[ColorcliError]) -> None:
    """Raise ``error`` when ``output``'s folder resolves outside ``root`` (a link planted there)."""
    if root is None:
        return
    parent = output.parent.resolve()
    if not parent.is_relative_to(root.resolve()):
        raise error(f"{output}: refusing to write outside the output folder (via {parent})")


def make_output_folder(output: Path, error: type[ColorcliError]) -> None:
    """Create ``output``'s folder and its parents; ``error`` says why that failed."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as failure:
        raise error(f"{output.parent}: cannot create folder ({failure.strerror})") from None


def output_extension(source: Path, requested: str = "auto") -> str:
    """Extension (no dot) of the output for ``source``: ``requested`` or the input's own format."""
    if requested != "auto":
        if requested not in OUTPUT_EXTENSIONS:
            raise UsageError(
                f"--ext must be auto or one of {', '.join(OUTPUT_EXTENSIONS)}, got {requested!r}"
            )
        return requested
    return _KEEP_FORMAT.get(source.suffix.lower(), "png")


def _is_media_name(path: Path) -> bool:
    suffix = path.suffix.lower()
    is_media = suffix in IMAGE_EXTENSIONS or suffix in VIDEO_EXTENSIONS
    # a photo's scribble hints (<stem>.hints.png) go with it: they are not photos
    is_hints = path.name.lower().endswith(".hints.png")
    return is_media and not is_hints and not path.name.startswith(".")


def is_video_name(path: Path) -> bool:
    """True if ``path``'s suffix is a video's (``VIDEO_EXTENSIONS``)."""
    return path.suffix.lower() in VIDEO_EXTENSIONS


@dataclass
class _Walk:
    files: list[Path] = field(default_factory=list)
    ignored: int = 0
    inside_output: list[Path] = field(default_factory=list)
    passed_over: list[tuple[Path, str]] = field(default_factory=list)


def _walk(folder: Path, recursive: bool, exclude: Path, follow_links: bool = False) -> _Walk:
    """Media files under ``folder`` (sorted), the count of other files, and what was passed
    over: media inside ``exclude`` (the output folder), folder links not followed, loops.

    With ``follow_links``, links to folders are walked like folders, each real folder once
    (a link back to a folder already on the walk is named, not followed).
    """
    walk = _Walk()
    if not recursive:
        for path in sorted(folder.iterdir()):
            if path.is_file() or path.is_symlink():
                _take(path, walk.files, walk)
        return walk
    seen = {_file_id(folder)}
    for root, dirs, names in os.walk(folder, followlinks=follow_links):
        kept = []
        for name in sorted(dirs):
            path = Path(root) / name
            if name.startswith("."):
                continue
            if _same_file(path, exclude):
                # never read back our own outputs when -o lies inside an input folder
                walk.inside_output.extend(_media_under(path))
            elif path.is_symlink() and not follow_links:
                walk.passed_over.append((path, "a link to a folder (add --follow-links)"))
            elif path.is_symlink() and _file_id(path) in seen:
                walk.passed_over.append((path, "a link back into a folder already walked"))
            else:
                seen.add(_file_id(path))
                kept.append(name)
        dirs[:] = kept
        for name in sorted(names):
            _take(Path(root) / name, walk.files, walk)
    return walk


def _take(path: Path, files: list[Path], walk: _Walk) -> None:
    if _is_media_name(path):
        files.append(path)
    elif not path.name.startswith("."):
        walk.ignored += 1


def _media_under(folder: Path) -> list[Path]:
    """Media files anywhere under ``folder`` (not following links), sorted."""
    found: list[Path] = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(root) / name for name in sorted(names) if _is_media_name(Path(root) / name)
        )
    return found


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def plan_jobs(
    inputs: Sequence[Path],
    out_dir: Path,
    *,
    recursive: bool = False,
    ext: str = "auto",
    suffix: str = "",
    video_ext: str = "mp4",
    compare: bool = False,
    confidence: bool = False,
    follow_links: bool = False,
) -> Plan:
    """Plan the output path of every image and video under ``inputs``.

    Args:
        inputs: files and folders given by the user.
        out_dir: output folder (created later; must not be an existing file).
        recursive: descend into sub-folders, keeping their structure under ``out_dir``.
        ext: ``auto`` or an output extension.
        suffix: appended to each output file's stem (e.g. ``_color``).
        video_ext: container of colourized videos, one of ``VIDEO_OUTPUT_EXTENSIONS``
            (video jobs have ``kind == "video"``).
        compare: plan an input|output side-by-side for each image (:attr:`Job.compare`).
        confidence: plan a confidence map for each image (:attr:`Job.confidence`).
        follow_links: with ``recursive``, walk links to folders too (never into a loop).

    Photos found inside ``out_dir`` when it lies in an input folder are not read (they
    are, or may become, this run's outputs): those that are not outputs of this run are
    listed in :attr:`Plan.passed_over`, as are folder links not followed.

    Every file a job will write takes part in the collision checks: a job none of whose
    files may be written (another job plans the same name, or it is an input) is refused.
    A file found in a folder that is the planned output (or side-by-side) of another file
    found there, inside ``out_dir``, is an earlier result of this tool, not an input, so
    re-running an in-place command (``-o`` = the input folder, with ``--suffix``) resumes.

    Raises:
        UsageError: an input does not exist, the output folder is a file, or it is an input
            folder while ``suffix`` is empty (the originals would be overwritten).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"output folder {out_dir} exists and is not a folder")
    if "/" in suffix or "\\" in suffix or suffix in (".", ".."):
        raise UsageError(f"--suffix must not contain path separators, got {suffix!r}")
    output_extension(Path("x.png"), ext)  # validate early
    if video_ext not in VIDEO_OUTPUT_EXTENSIONS:
        raise UsageError(
            f"--video-ext must be one of {', '.join(VIDEO_OUTPUT_EXTENSIONS)}, got {video_ext!r}"
        )
    jobs: list[Job] = []
    found: list[Job] = []  # found by walking a folder (not named by the user)
    refused: list[tuple[Path, str]] = []
    passed_over: list[tuple[Path, str]] = []
    inside_output: list[Path] = []
    ignored = 0
    options = (ext, suffix, video_ext, compare, confidence)
    for item in inputs:
        if not item.exists() and not item.is_symlink():
            raise UsageError(f"input {item} does not exist")
        if item.is_dir():
            if not suffix and _same_file(item, out_dir):
                raise UsageError(
                    f"the output folder {out_dir} is the input folder: add --suffix (e.g. "
                    "--suffix _color) or choose another -o, so the originals are kept"
                )
            walk = _walk(item, recursive, out_dir, follow_links)
            ignored += walk.ignored
            passed_over += walk.passed_over
            inside_output += walk.inside_output
            for path in walk.files:
                job = _job(path, path.relative_to(item), out_dir, *options)
                jobs.append(job)
                found.append(job)
        else:
            jobs.append(_job(item, Path(item.name), out_dir, *options))
    jobs = _without_earlier_outputs(jobs, found, out_dir)
    unique: list[Job] = []
    claimed: dict[Path, Path] = {}
    planned: set[tuple[tuple[int, int] | Path, Path]] = set()
    source_ids = {_file_id(job.source) for job in jobs} - {None}
    for job in jobs:
        keys = [_path_key(path) for path in job.outputs]
        identity = (_file_id(job.source) or _path_key(job.source), keys[0])
        if identity in planned:
            continue  # the same file given twice (or via a folder and by name): one job
        reason = _collision(job, keys, claimed, source_ids)
        if reason:
            refused.append((job.source, reason))
            continue
        planned.add(identity)
        claimed.update(dict.fromkeys(keys, job.source))
        unique.append(job)
    ours = {_path_key(path) for job in jobs for path in _result_names(job)}
    passed_over += [
        (path, "inside the output folder (-o), so not read as an input")
        for path in dict.fromkeys(inside_output)
        if _path_key(path) not in ours
    ]
    return Plan(jobs=unique, refused=refused, ignored=ignored, passed_over=passed_over)


def _result_names(job: Job) -> tuple[Path, ...]:
    """Every name this tool may have written for ``job``, asked for this time or not."""
    return (job.output, compare_path(job.output), confidence_path(job.output))


def _path_key(path: Path) -> Path:
    return Path(os.path.normcase(os.path.abspath(path)))


def _collision(
    job: Job,
    keys: list[Path],
    claimed: dict[Path, Path],
    source_ids: set[tuple[int, int] | None],
) -> str:
    """Why ``job`` may not write its files ('' when it may)."""
    for path, key in zip(job.outputs, keys, strict=True):
        what = {job.compare: "its side-by-side", job.confidence: "its confidence map"}.get(
            path, "its output"
        )
        if key in claimed:
            return f"{what} {path} is also planned for {claimed[key]}"
        if _file_id(path) in source_ids:
            return f"{what} {path} would overwrite an input file"
    return ""


def _without_earlier_outputs(jobs: list[Job], found: list[Job], out_dir: Path) -> list[Job]:
    """``jobs`` less the files found in folders that are results of other found files.

    Such a file lies inside ``out_dir`` under the name another found file's output (or
    its side-by-side or confidence map, asked for or not) gets: an earlier run wrote it.
    """
    results = {_path_key(path) for job in found for path in _result_names(job)}
    root = _path_key(out_dir)
    earlier = {
        id(job)
        for job in found
        if _path_key(job.source) in results and _path_key(job.source).is_relative_to(root)
    }
    return [job for job in jobs if id(job) not in earlier]


def _job(
    source: Path,
    relative: Path,
    out_dir: Path,
    ext: str,
    suffix: str,
    video_ext: str = "mp4",
    compare: bool = False,
    confidence: bool = False,
) -> Job:
    video = is_video_name(source)
    extension = video_ext if video else output_extension(source, ext)
    name = f"{relative.stem}{suffix}.{extension}"
    output = out_dir / relative.parent / name
    return Job(
        source=source,
        output=output,
        relative=relative,
        kind="video" if video else "image",
        compare=compare_path(output) if compare and not video else None,
        confidence=confidence_path(output) if confidence and not video else None,
    )
