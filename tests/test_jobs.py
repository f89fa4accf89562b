"""Planning: which files are inputs, where each output goes, which jobs are refused."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from colorcli.jobs import compare_path, plan_jobs


def _photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (8, 6), 128).save(path)
    return path


def test_side_by_sides_take_part_in_the_collision_check(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    a, a_compare = _photo(inputs / "a.png"), _photo(inputs / "a_compare.png")
    out = tmp_path / "out"
    plan = plan_jobs([inputs], out, compare=True)
    assert [job.source for job in plan.jobs] == [a]
    assert plan.jobs[0].outputs == (out / "a.png", out / "a_compare.png")
    assert plan.refused == [
        (a_compare, f"its output {out / 'a_compare.png'} is also planned for {a}")
    ]
    # without --compare both are colourized
    assert [job.source for job in plan_jobs([inputs], out).jobs] == [a, a_compare]


def test_a_side_by_side_may_not_overwrite_an_input(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    a, other = _photo(folder / "a.png"), _photo(folder / "a_color_compare.png")
    plan = plan_jobs([a, other], folder, suffix="_color", compare=True)
    assert [job.source for job in plan.jobs] == [other]
    assert plan.refused == [(a, f"its side-by-side {other} would overwrite an input file")]


def test_earlier_outputs_in_an_in_place_folder_are_not_inputs(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    x = _photo(archive / "x.png")
    _photo(archive / "x_color.png")
    _photo(archive / "x_color_compare.png")
    _photo(archive / "sub" / "y.png")
    _photo(archive / "sub" / "y_color.png")
    plan = plan_jobs([archive], archive, suffix="_color", recursive=True)
    assert [job.source for job in plan.jobs] == [x, archive / "sub" / "y.png"]
    assert plan.refused == []
    # outside the output folder the same names are inputs like any other
    assert len(plan_jobs([archive], tmp_path / "out", suffix="_color").jobs) == 3


def test_the_same_input_twice_is_one_job(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    a = _photo(folder / "a.png")
    plan = plan_jobs([a, a, folder], tmp_path / "out")
    assert [job.source for job in plan.jobs] == [a]
    assert plan.refused == []


def test_compare_path_is_beside_the_output() -> None:
    assert compare_path(Path("o/x_color.jpg")) == Path("o/x_color_compare.jpg")


def test_photos_inside_the_output_folder_are_named_not_dropped(tmp_path: Path) -> None:
    """``colorize in -o in/sub -r``: in/sub's own photos are passed over with a reason;
    this run's outputs there (from an earlier run) are not listed."""
    inputs = tmp_path / "in"
    a = _photo(inputs / "a.png")
    own = _photo(inputs / "sub" / "own.png")
    _photo(inputs / "sub" / "a.png")  # an earlier run's output of a.png
    plan = plan_jobs([inputs], inputs / "sub", recursive=True)
    assert [job.source for job in plan.jobs] == [a]
    assert plan.passed_over == [(own, "inside the output folder (-o), so not read as an input")]


def test_folder_links_are_named_or_followed_never_into_a_loop(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    a = _photo(inputs / "a.png")
    elsewhere = tmp_path / "elsewhere"
    b = _photo(elsewhere / "b.png")
    (inputs / "linked").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "back").symlink_to(inputs, target_is_directory=True)  # a loop
    out = tmp_path / "out"
    plain = plan_jobs([inputs], out, recursive=True)
    assert [job.source for job in plain.jobs] == [a]
    assert plain.passed_over == [(inputs / "linked", "a link to a folder (add --follow-links)")]
    followed = plan_jobs([inputs], out, recursive=True, follow_links=True)
    assert [job.source for job in followed.jobs] == [a, inputs / "linked" / b.name]
    assert followed.jobs[1].output == out / "linked" / "b.png"
    assert followed.passed_over == [
        (inputs / "linked" / "back", "a link back into a folder already walked")
    ]


def test_confidence_maps_take_part_in_the_collision_check(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    a, clash = _photo(inputs / "a.png"), _photo(inputs / "a_confidence.png")
    out = tmp_path / "out"
    plan = plan_jobs([inputs], out, confidence=True)
    assert plan.jobs[0].outputs == (out / "a.png", out / "a_confidence.png")
    assert [job.source for job in plan.jobs] == [a]
    assert plan.refused == [
        (clash, f"its output {out / 'a_confidence.png'} is also planned for {a}")
    ]
