"""Entry point of the scorer subprocess: `python -I -m environments.scorer_main ...`.

Runs one environment's `score` (or, for one that scores in two parts, its `judge` of the
outputs of the participant's part, `--outputs`) and writes the verdict as JSON to a result file the
caller chose inside the private state. `-I` keeps the workspace off `sys.path`, so a
participant's folder named like one of our packages cannot replace the scorer.
Errors raised by the participant's code become an invalid score with the exception's
type and text; the traceback goes only into `details`.
"""

from __future__ import annotations

import argparse
import json
import math
import traceback
from pathlib import Path

from environments.base import ScoreResult
from environments.registry import load_environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scorer_main")
    parser.add_argument("env_id")
    parser.add_argument("scale")
    parser.add_argument("workspace", type=Path)
    parser.add_argument("private", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--outputs", type=Path, help="what the participant's part of scoring wrote")
    parser.add_argument("--inputs", type=Path, help="the inputs that part was given (written by the harness)")
    args = parser.parse_args(argv)

    env = load_environment(args.env_id)
    try:
        if args.outputs is None:
            result = env.score(args.workspace, args.private, args.scale)
        else:
            inputs = json.loads(args.inputs.read_text()) if args.inputs else {}
            result = env.judge(args.workspace, args.private, args.scale, args.outputs, inputs)
        if not isinstance(result, ScoreResult):
            raise TypeError(f"scorer returned {type(result).__name__}, not ScoreResult")
        if result.valid and not math.isfinite(result.raw):
            result = ScoreResult.invalid(f"score is not finite: {result.raw}")
    except Exception as exc:  # the participant's code may raise anything
        result = ScoreResult.invalid(f"{type(exc).__name__}: {exc}"[:2000], traceback=traceback.format_exc()[-8000:])
    tmp = args.result.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.to_json(), default=str))
    tmp.replace(args.result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
