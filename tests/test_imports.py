"""The session layer starts fast: the daemon and the MCP bridge never import Textual or torch."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO


def test_session_layer_does_not_import_textual_or_torch() -> None:
    code = (
        "import sys, json\n"
        "import session.daemon, session.client, session.session, recorder.store, environments.registry\n"
        "import rebench_tui.mcp_bridge, rebench_tui.cli\n"
        "from environments.registry import environment_ids, load_environment\n"
        "[load_environment(e).instructions('cpu') for e in environment_ids()]\n"
        "heavy = ('textual', 'torch', 'triton', 'mcp')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert json.loads(out.stdout) == []
