"""Peak resident memory of one ``colorize_jobs`` run, measured in a fresh process.

Run as ``python benchmarks/memory.py FOLDER OUT [CHECKPOINT]`` (without a checkpoint: the
default architecture with random weights); prints one JSON line: the high-water
mark of resident memory before any image (imports, model) and after the run, in bytes,
and the size of the largest decoded RGB array. Linux reads ``VmHWM`` from
``/proc/self/status``; elsewhere ``resource.getrusage`` stands in.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def peak_rss() -> int:
    """High-water mark of this process's resident memory, in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def main(folder: Path, out: Path, checkpoint: Path | None) -> None:
    from colorcli.checkpoint import load_model
    from colorcli.imageio import probe_size
    from colorcli.jobs import plan_jobs
    from colorcli.models import get_model
    from colorcli.pipeline import Colorizer
    from colorcli.runner import ColorizeSettings, colorize_jobs

    if checkpoint is None:
        model = get_model("unet", width=16, depth=4, output_stride=2)
    else:
        model = load_model(checkpoint)
    colorizer = Colorizer(model)
    jobs = plan_jobs([folder], out).jobs
    largest = max(w * h for w, h in (probe_size(job.source) for job in jobs))
    baseline = peak_rss()
    summary = colorize_jobs(jobs, colorizer, ColorizeSettings())
    print(
        json.dumps(
            {
                "baseline": baseline,
                "peak": peak_rss(),
                "array": largest * 3,
                "images": len(jobs),
                "done": summary.done,
                "failed": [r.reason for r in summary.failed],
                "seconds": summary.seconds,
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
