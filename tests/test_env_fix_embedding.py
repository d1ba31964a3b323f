"""fix_embedding at cpu scale, through real sessions and the real scorer subprocess."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from environments import tiny_gpt
from environments.fix_embedding.settings import SCALES
from environments.registry import load_environment
from environments.text_corpus import build_corpus
from session.session import Session

LARGE = tiny_gpt.GPTConfig(**SCALES["cpu"]["large"])


def test_start_scores_about_0_and_reference_about_1_on_cpu_scale(home: Path) -> None:
    with Session.create(home, "fix_embedding", scale="cpu", kind="agent") as s:
        assert s.calibration.calibration is not None
        start = s.call("score").structured
        assert start["valid"], start
        load_environment("fix_embedding").install_reference(s.workspace, "cpu")
        reference = s.call("score").structured
        assert reference["valid"], reference
    assert abs(start["normalized"]) <= 0.02, start
    assert 0.98 <= reference["normalized"] <= 1.02, reference
    assert start["message"]["loss"] > 5 > 2 > reference["message"]["loss"]  # nats per byte
    assert reference["best_normalized"] == reference["normalized"]  # aggregation min


def _bad_files(workspace: Path) -> dict[str, tuple[object, str]]:
    """name -> (what to save as fixed_model.pt, a phrase its reason must contain)."""
    good = torch.load(workspace / "large_model.pt", weights_only=True)
    small = torch.load(workspace / "small_model.pt", weights_only=True)
    extra = {**good, "lm_head.weight": good["wte.weight"].clone()}
    missing = {k: v for k, v in good.items() if k != "ln_f.bias"}
    wider = {**good, "wpe.weight": torch.zeros(LARGE.block_size * 2, LARGE.n_embd)}
    nan = {**good, "h.0.mlp.c_fc.weight": torch.full_like(good["h.0.mlp.c_fc.weight"], float("nan"))}
    ints = {**good, "ln_f.weight": torch.ones(LARGE.n_embd, dtype=torch.int64)}
    return {
        "small model": (small, "missing keys"),
        "extra key": (extra, "unexpected keys ['lm_head.weight']"),
        "missing key": (missing, "missing keys ['ln_f.bias']"),
        "wrong shape": (wider, "wpe.weight has shape (256, 128), expected (128, 128)"),
        "non-finite": (nan, "non-finite"),
        "integer tensor": (ints, "dtype torch.int64"),
        "not a dict": ([good["wte.weight"]], "expected a state dict"),
    }


def test_each_difference_of_architecture_is_named(home: Path) -> None:
    """The scorer's architecture check, on each kind of wrong file (in-process: it is a pure function)."""
    with Session.create(home, "fix_embedding", scale="cpu", kind="agent", hold=False) as s:
        bad = _bad_files(s.workspace)
    for name, (obj, phrase) in bad.items():
        problem = tiny_gpt.check_state(obj, LARGE)
        assert problem is not None and phrase in problem, (name, problem)


def test_files_of_another_architecture_are_invalid_with_a_reason(home: Path) -> None:
    with Session.create(home, "fix_embedding", scale="cpu", kind="agent") as s:
        target = s.workspace / "fixed_model.pt"
        obj, phrase = _bad_files(s.workspace)["small model"]
        torch.save(obj, target)
        result = s.call("score").structured
        assert not result["valid"] and phrase in result["message"]["error"], result["message"]
        # A pickle that would run code is refused by weights_only, never executed.
        marker = s.workspace / "pwned"
        target.write_bytes(pickle.dumps(_RunsCode(str(marker))))
        result = s.call("score").structured
        assert not result["valid"] and "cannot be loaded" in result["message"]["error"]
        assert not marker.exists()
        target.unlink()
        result = s.call("score").structured
        assert not result["valid"] and "missing" in result["message"]["error"]


class _RunsCode:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_validation_text_is_private_and_absent_from_the_workspace(home: Path) -> None:
    corpus = build_corpus()
    with Session.create(home, "fix_embedding", scale="cpu", kind="agent", hold=False) as s:
        files = {p.name: p.read_bytes() for p in s.workspace.rglob("*") if p.is_file() and ".git" not in p.parts}
        assert {"large_model.pt", "small_model.pt", "fixed_model.pt", "model.py", "train.bin", "check.py"} <= set(files)
        assert files["train.bin"] == corpus.train
        assert (s.paths.env_private / "validation.bin").read_bytes() == corpus.validation
    # Slices of the validation text that the training text lacks appear in no workspace file.
    v = corpus.validation
    probes = [v[i : i + 120] for i in range(0, len(v) - 120, len(v) // 40)]
    probes = [p for p in probes if p not in corpus.train]
    assert len(probes) >= 20
    for name, data in files.items():
        assert not any(p in data for p in probes), name


@pytest.mark.parametrize("scale", ["cpu"])
def test_workspace_check_script_agrees_with_the_scorer(home: Path, scale: str) -> None:
    import subprocess
    import sys

    with Session.create(home, "fix_embedding", scale=scale, kind="agent", hold=False) as s:
        load_environment("fix_embedding").install_reference(s.workspace, scale)
        out = subprocess.run([sys.executable, "check.py"], cwd=s.workspace, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "architecture ok" in out.stdout, out.stdout + out.stderr
        torch.save(torch.load(s.workspace / "small_model.pt", weights_only=True), s.workspace / "fixed_model.pt")
        out = subprocess.run([sys.executable, "check.py"], cwd=s.workspace, capture_output=True, text=True, timeout=120)
        assert out.returncode == 1 and "INVALID" in out.stdout
