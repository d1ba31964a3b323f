"""restricted_mlm: calibrated normalization through a real session, and the whitelist enforced
by the real scorer process on real workspace models."""

from __future__ import annotations

import importlib.util
import runpy
import shutil
import sys
from pathlib import Path

import pytest
import torch

from environments.op_whitelist import check_forward
from environments.registry import load_environment
from environments.restricted_mlm.env import _DATA, _HERE
from environments.text_corpus import build_corpus
from session.scoring import run_scorer
from session.session import Session

ENV = load_environment("restricted_mlm")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("restricted_mlm")
    workspace, private = root / "workspace", root / "private"
    workspace.mkdir()
    private.mkdir()
    ENV.prepare(workspace, private, "cpu")
    return workspace, private


def score_model(prepared: tuple[Path, Path], tmp_path: Path, source: str | None):
    """Score a workspace holding only `source` as model.py (none if None) in the real scorer process."""
    workspace = tmp_path / "ws"
    workspace.mkdir(parents=True)
    if source is not None:
        (workspace / "model.py").write_text(source)
    return run_scorer(ENV, "cpu", workspace, prepared[1])


TINY = """
import torch

class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(258, 258)
        self.register_buffer("cond", torch.ones(1, dtype=torch.bool))

    def forward(self, tokens):
        x = self.embed(tokens)
        return {expr}

def get_trained_model():
    torch.manual_seed(0)
    return Tiny()
"""


def test_start_scores_about_0_and_reference_about_1_on_cpu_scale(home: Path) -> None:
    with Session.create(home, "restricted_mlm", scale="cpu", kind="agent") as s:
        assert s.calibration.calibration is not None
        start = s.call("score").structured
        assert start["valid"], start
        load_environment("restricted_mlm").install_reference(s.workspace, "cpu")
        reference = s.call("score").structured
        assert reference["valid"], reference
    assert abs(start["normalized"]) <= 0.05, start
    assert 0.95 <= reference["normalized"] <= 1.05, reference
    assert reference["best_normalized"] == reference["normalized"]  # aggregation min of ln(loss - floor)


def test_the_starting_and_reference_models_pass_the_whitelist() -> None:
    tokens = torch.randint(0, 258, (2, 64))
    for kind in ("start", "reference"):
        spec = importlib.util.spec_from_file_location(f"rmlm_{kind}", _HERE / kind / "model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.Model()
        state = torch.load(_DATA / f"{kind}.pt", weights_only=True)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        assert check_forward(model.eval(), tokens).shape == (2, 64, 258)


@pytest.mark.parametrize(
    ("expr", "name"),
    [
        # x / y, and the model catches the guard's error: the operation is still found.
        # Three through the real scorer process; tests/test_op_whitelist.py catches each of the
        # issue's list (/, exp, softmax, mean, >, where) with the same guard in-process.
        ("x + _try(lambda: x / (x * x + 1))", "div"),
        ("torch.softmax(x, dim=-1)", "softmax"),
        ("torch.where(self.cond, x, -x)", "where"),
    ],
)
def test_a_disallowed_operation_makes_the_score_nan_and_is_named(
    prepared: tuple[Path, Path], tmp_path: Path, expr: str, name: str
) -> None:
    source = TINY.format(expr=expr) + (
        "\ndef _try(f):\n    try:\n        return f()\n    except Exception:\n        return 0\n"
    )
    result = score_model(prepared, tmp_path, source)
    assert not result.valid
    assert f"'{name}'" in result.message["error"], result.message


def test_missing_model_and_wrong_shape_are_invalid_with_a_reason(prepared: tuple[Path, Path], tmp_path: Path) -> None:
    missing = score_model(prepared, tmp_path / "a", None)
    assert not missing.valid and "model.py is missing" in missing.message["error"]
    wrong = score_model(prepared, tmp_path / "b", TINY.format(expr="x[:, :, :257]"))
    assert not wrong.valid and "shape" in wrong.message["error"] and "258" in wrong.message["error"], wrong.message


# Scoring in two parts: what the model's process leaves is untrusted data for the scorer.
EXCHANGE = "import os, sys\nOUTPUTS = os.path.join(sys.argv[-1], 'outputs')\n"


def test_a_crashing_model_process_and_forged_outputs_are_invalid_with_a_reason(
    prepared: tuple[Path, Path], tmp_path: Path
) -> None:
    crashed = score_model(prepared, tmp_path / "a", "import os\ndef get_trained_model():\n    os._exit(3)\n")
    assert not crashed.valid and "failed (exit code 3)" in crashed.message["error"], crashed.message
    # A link to the private targets in place of the logits: never copied, so nothing to load.
    validation = prepared[1] / "validation.bin"
    linked = score_model(
        prepared,
        tmp_path / "b",
        EXCHANGE + "def get_trained_model():\n"
        "    open(os.path.join(OUTPUTS, 'report.json'), 'w').write('{}')\n"
        f"    os.symlink({str(validation)!r}, os.path.join(OUTPUTS, 'logits.pt'))\n"
        "    os._exit(0)\n",
    )
    assert not linked.valid and "unreadable logits" in linked.message["error"], linked.message
    # Logits of the wrong shape written directly, skipping the forward pass's checks.
    forged = score_model(
        prepared,
        tmp_path / "c",
        EXCHANGE + "import torch\ndef get_trained_model():\n"
        "    open(os.path.join(OUTPUTS, 'report.json'), 'w').write('{}')\n"
        "    torch.save({'logits': torch.zeros(3, 258)}, os.path.join(OUTPUTS, 'logits.pt'))\n"
        "    os._exit(0)\n",
    )
    assert not forged.valid and "not float" in forged.message["error"], forged.message


def test_the_validation_text_stays_out_of_the_workspace(prepared: tuple[Path, Path]) -> None:
    workspace, private = prepared
    corpus = build_corpus()
    assert (private / "validation.bin").read_bytes() == corpus.validation
    # Distinctive snippets: 120-byte pieces of the validation text that the training text lacks.
    pieces = (corpus.validation[i : i + 120] for i in range(0, len(corpus.validation) - 120, 5000))
    snippets = [s for s in pieces if s not in corpus.train]
    assert len(snippets) >= 5
    files = [p for p in workspace.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"model.py", "model.pt", "train.py", "evaluate.py", "train.bin"}
    for path in files:
        content = path.read_bytes()
        assert not any(s in content for s in snippets), path


def test_the_local_check_runs_in_the_workspace(
    prepared: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    workspace = tmp_path / "copy"
    shutil.copytree(prepared[0], workspace)
    # In this process (torch is loaded already); the workspace's modules are dropped afterwards.
    monkeypatch.setattr(sys, "argv", ["evaluate.py", "--holdout", "0.02"])
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        runpy.run_path(str(workspace / "evaluate.py"), run_name="not_main")["main"]()
    finally:
        for name in ("model", "mlm_data", "op_whitelist"):
            sys.modules.pop(name, None)
    out = capsys.readouterr().out
    assert "loss" in out and "raw score" in out, out
