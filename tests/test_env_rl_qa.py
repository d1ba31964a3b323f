"""rl_qa at cpu scale: calibrated start/reference through a real session, invalid models,
held-out prompts kept out of the workspace, and the scorer's repeat count as its noise."""

from __future__ import annotations

import dataclasses
import json
import marshal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from environments.registry import load_environment
from environments.rl_qa import qa_data
from session.scoring import run_scorer
from session.session import Session

ENV = "rl_qa"


@pytest.fixture
def prepared(tmp_path: Path) -> tuple[Path, Path]:
    workspace, private = tmp_path / "workspace", tmp_path / "private"
    workspace.mkdir()
    private.mkdir()
    load_environment(ENV).prepare(workspace, private, "cpu")
    return workspace, private


def test_start_scores_about_0_and_reference_about_1_on_cpu_scale(home: Path) -> None:
    with Session.create(home, ENV, scale="cpu", kind="agent") as s:
        assert s.calibration.calibration is not None
        start = s.call("score").structured
        assert start["valid"], start
        load_environment(ENV).install_reference(s.workspace, "cpu")
        reference = s.call("score").structured
        assert reference["valid"], reference
    assert start["normalized"] <= 0.25, start
    assert 0.75 <= reference["normalized"] <= 1.3, reference
    assert reference["message"]["win_rate_vs_reference"] == pytest.approx(0.5, abs=0.2)  # ties with itself
    assert start["message"]["win_rate_vs_start"] == pytest.approx(0.5, abs=0.2)
    assert reference["best_normalized"] == reference["normalized"]  # aggregation max


def test_missing_or_foreign_model_is_invalid_with_a_reason(prepared: tuple[Path, Path]) -> None:
    import torch

    from environments.rl_qa import scorer
    from environments.tiny_gpt import GPT, GPTConfig, save

    workspace, private = prepared
    env = load_environment(ENV)
    (workspace / "model.pt").unlink()
    missing = run_scorer(env, "cpu", workspace, private)
    assert not missing.valid and "model.pt is missing" in missing.message["error"]
    save(GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, block_size=64)), workspace / "model.pt", torch.float16)
    foreign = run_scorer(env, "cpu", workspace, private)
    assert not foreign.valid and "architecture" in foreign.message["error"], foreign.message
    torch.save({"not": "a model"}, workspace / "model.pt")
    junk = scorer.score(workspace, private, env.scale("cpu"))  # the same scorer, in this process (faster)
    assert not junk.valid and "model.pt cannot be used" in junk.message["error"], junk.message


def test_heldout_prompts_and_sources_stay_out_of_the_workspace(prepared: tuple[Path, Path]) -> None:
    workspace, private = prepared
    held = json.loads((private / "heldout.json").read_text())
    assert len(held) == qa_data.N_HELDOUT
    texts = [p.read_bytes() for p in workspace.rglob("*") if p.is_file()]
    payload = marshal.loads(zlib.decompress((workspace / "judge.bin").read_bytes()))
    texts.append(json.dumps(payload["sources"]).encode() + payload["corpus"].encode())
    for h in held:
        assert h["prompt"] not in payload["sources"]
        for needle in (h["prompt"], h["source"]):
            assert not any(needle.encode() in t for t in texts), needle[:80]
    training = json.loads((workspace / "train_prompts.json").read_text())
    assert set(training) == set(payload["sources"]) and not set(training) & {h["prompt"] for h in held}
    probe = (
        "import json, sys\nfrom evaluate import evaluate\n"
        "train, held = json.loads(sys.argv[1]), json.loads(sys.argv[2])\n"
        "p = evaluate([train], ['A function that returns the value of the object.'], ['x x x x'])\n"
        "assert len(p) == 1 and p[0] > 0.5, p\n"
        "try:\n    evaluate([held], ['a'], ['b'])\nexcept ValueError as exc:\n    print('refused:', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(training[0]), json.dumps(held[0]["prompt"])],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "refused: 1 prompt(s) are not training prompts" in out.stdout, out.stderr


def test_repeat_count_sets_the_reported_noise(prepared: tuple[Path, Path]) -> None:
    from environments.rl_qa import scorer

    workspace, private = prepared
    config = load_environment(ENV).scale("cpu")
    once = scorer.score(workspace, private, dataclasses.replace(config, params={**config.params, "repeats": 1}))
    many = scorer.score(workspace, private, dataclasses.replace(config, params={**config.params, "repeats": 8}))
    assert once.message["repeats"] == 1 and once.message["spread"] == 0.0
    assert many.message["repeats"] == 8 and many.message["spread"] > 0.0, many.message
    assert many.message["tie_fraction_vs_start"] > 0.5  # the starting model ties with itself
    assert len(many.details["per_repeat"]) == 8


def test_the_test_scale_runs_its_own_architecture_end_to_end(home: Path) -> None:
    """A scale whose policy is not the cpu scale's (1 layer x 96): its own shipped models, its
    architecture in the workspace's qa.CONFIG, the workspace's `evaluate` and the scorer both
    loading it, and its start and reference scored through a real session."""
    env = load_environment(ENV)
    assert env.unbuilt("test") is None
    with Session.create(home, ENV, scale="test", kind="agent") as s:
        qa = (s.workspace / "qa.py").read_text()
        assert "CONFIG = GPTConfig(n_layer=1, n_head=2, n_embd=96, block_size=160)" in qa
        check = subprocess.run(
            [sys.executable, "-c", "import qa; m = qa.load_policy('model.pt'); print(m.config.n_embd, len(m.h))"],
            cwd=s.workspace,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.stdout.split() == ["96", "1"], check.stderr
        start = s.call("score").structured
        env.install_reference(s.workspace, "test")
        reference = s.call("score").structured
    assert start["valid"] and reference["valid"], (start, reference)
    win_vs_start = reference["message"]["win_rate_vs_start"]
    assert win_vs_start > start["message"]["win_rate_vs_start"] + 0.1, (start["message"], reference["message"])
    assert reference["raw"] > start["raw"] + 0.05, (start, reference)
    if s.calibration.calibration is not None:  # calibrated on this hardware: the usual 0 and 1
        assert start["normalized"] <= 0.25 and 0.75 <= reference["normalized"] <= 1.3, (start, reference)


def test_a_cpu_model_is_refused_at_the_test_scale_and_the_reason_names_the_architecture(tmp_path: Path) -> None:
    from environments.rl_qa import scorer
    from environments.rl_qa.env import scale_files

    workspace, private = tmp_path / "workspace", tmp_path / "private"
    workspace.mkdir()
    private.mkdir()
    env = load_environment(ENV)
    env.prepare(workspace, private, "test")
    (workspace / "model.pt").write_bytes(scale_files("cpu")["start"].read_bytes())
    refused = scorer.score(workspace, private, env.scale("test"))
    assert not refused.valid and "architecture" in refused.message["error"], refused.message


def test_the_build_makes_a_scale_the_environment_accepts(tmp_path: Path) -> None:
    """The build command's own code (a few steps of each stage instead of the recipe's hundreds, no
    RL round: the shipped test scale's build ran two) writes every file a scale needs, for the
    scale's architecture, where it is told."""
    from environments.rl_qa.env import scale_files
    from environments.rl_qa.policy import GPTConfig, load_policy
    from environments.rl_qa.reference import build
    from environments.tiny_gpt import TrainConfig

    short = build.Recipe(TrainConfig(max_iters=5, batch_size=4, warmup_iters=1), 3, 1e-3, 0, 1, 2, 1e-4, 4)
    base = scale_files("test")["start"].parent
    out = {name: tmp_path / path.relative_to(base) for name, path in scale_files("test").items()}
    info = build.build("test", "cpu", out, recipe=short)
    assert all(path.is_file() for path in out.values()), out
    assert info["config"] == json.loads(out["info"].read_text())["config"]
    policy = load_environment(ENV).scale("test").params["policy"]
    architecture = GPTConfig(**policy)
    assert {k: v for k, v in info["config"].items() if k != "vocab_size"} == policy
    for name in ("start", "reference"):
        assert load_policy(out[name], architecture).config == architecture
    answers = json.loads(out["answers"].read_text())
    held = [e.prompt for e in qa_data.examples() if e.split == "heldout"]
    assert set(answers) == {"start", "reference"} and all(set(a) == set(held) for a in answers.values())
    assert info["rounds"] == [] and 0 <= info["heldout_win_reference_vs_start"] <= 1


def test_a_scale_without_its_models_says_how_to_build_them() -> None:
    env = load_environment(ENV)
    why = env.unbuilt("gpu")
    if why is None:
        pytest.skip("the gpu scale is built in this checkout")
    assert "6 layers x 384" in why and "python -m environments.rl_qa.reference.build --scale gpu" in why, why
    assert "on a GPU machine" in why
    with pytest.raises(RuntimeError, match="no built start and reference models"):
        env.install_reference(Path("/nonexistent"), "gpu")
