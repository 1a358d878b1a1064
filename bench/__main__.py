"""``python -m bench [NAME] [OPTIONS]``: one benchmark (intake by default; ``make bench`` runs
pipeline), NAME one of pipeline, intake, dispatch, follow-ups, pg, console, calls, reliability,
bounds, scale, stages.

Each benchmark's own options follow its name: ``python -m bench dispatch --help``.
"""

import sys
from importlib import import_module

BENCHMARKS = {
    "pipeline": "bench.pipeline",
    "intake": "bench.intake",
    "dispatch": "bench.dispatch",
    "follow-ups": "bench.follow_ups",
    "pg": "bench.pg",
    "console": "bench.console",
    "calls": "bench.calls",
    "reliability": "bench.reliability",
    "bounds": "bench.http_bounds",
    "scale": "bench.scale",
    "stages": "bench.stages",
}

args = sys.argv[1:]
name = args.pop(0) if args and args[0] in BENCHMARKS else "intake"
import_module(BENCHMARKS[name]).main(args=args, prog_name=f"python -m bench {name}")
