"""Entry point of the participant's part of scoring: `python -I -B -m environments.participant_main ...`.

Runs as the participant (their account, cgroup, network and mount namespaces when
isolated), so the code it calls cannot read the session's private data or write the
scorer's verdict: it sees only the public inputs the harness wrote into
EXCHANGE/inputs.json, and leaves its results under EXCHANGE/outputs for the harness to
copy to the judge. An interactive environment also gets its end of the socket linking it
to the judge (`--channel-fd`). `-B` because the participant may not write the harness's
bytecode caches; `-I` keeps the workspace off sys.path until the environment puts it there.
"""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

from environments.base import Part
from environments.registry import load_environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="participant_main")
    parser.add_argument("env_id")
    parser.add_argument("scale")
    parser.add_argument("workspace", type=Path)
    parser.add_argument("exchange", type=Path)
    parser.add_argument("--channel-fd", type=int, help="the socket linking this part to an interactive judge")
    args = parser.parse_args(argv)
    env = load_environment(args.env_id)
    inputs = json.loads((args.exchange / "inputs.json").read_text())
    channel = socket.socket(fileno=args.channel_fd) if args.channel_fd is not None else None
    part = Part(args.workspace.resolve(), inputs, args.exchange / "outputs", args.scale, channel)
    env.run_participant_part(part)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
