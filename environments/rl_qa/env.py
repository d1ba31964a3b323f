"""`rl_qa`: make a small GPT a better question answerer by RL from a judge, after METR's
RE-Bench "finetune GPT-2 for QA with RL".

The participant improves data/rl_qa/start.pt (a byte-level GPT pretrained on the shared
corpus and warmed up on the Q/A format) using only `evaluate`, a pairwise judge that
knows the training prompts' sources. The scorer answers ~100 held-out prompts (their
sources never reach the workspace) and reports the mean win rate against the starting
and the reference model; aggregation max. The judge travels to the workspace compiled
and compressed in `judge.bin`. Scorer and build import torch; this module does not.

The scorer's judge is that rule judge by default, or a language model behind an OpenAI-compatible
endpoint the operator configures when making the session (judge_endpoint.py: REBENCH_JUDGE_URL,
REBENCH_JUDGE_MODEL, REBENCH_JUDGE_API_KEY, recorded in the private folder for the scorer alone).
The judge's name is part of the calibration's key (`model_role`). `evaluate` in the workspace
stays the rule judge either way: the endpoint is the scorer's alone (see the README).
"""

from __future__ import annotations

import json
import marshal
import re
import shutil
import zlib
from pathlib import Path

from environments.base import (
    DATA_DIR,
    GPU_RESOURCES,
    TINY_GPT,
    Environment,
    Judging,
    Resources,
    ScaleConfig,
    ScoreResult,
)
from environments.rl_qa import judge_endpoint

_DATA = DATA_DIR / "rl_qa"

_COMMON = {"tie_seed": 0, "temperature": 0.0, "sample_seed": 0, "max_new": 100}
# The cpu scale's policy, as first shipped (policy.CONFIG, without importing torch).
CPU_POLICY = {"n_layer": 2, "n_head": 4, "n_embd": 96, "block_size": 160}


def scale_files(scale: str) -> dict[str, Path]:
    """A scale's built models: the cpu scale's in data/rl_qa/ (where they were first shipped),
    another scale's in data/rl_qa/<scale>/. `reference/` and `build_info.json` (the reference's
    recipe and its results) are protected; the starting model is public."""
    base = _DATA if scale == "cpu" else _DATA / scale
    return {
        "start": base / "start.pt",
        "info": base / "build_info.json",
        "reference": base / "reference" / "model.pt",
        "answers": base / "reference" / "baseline_answers.json",
    }


def build_info(scale: str) -> dict:
    try:
        return json.loads(scale_files(scale)["info"].read_text())
    except (OSError, ValueError):
        return {}


def _calibrated(scale: str) -> dict[str, str]:
    """The shipped calibration's start and reference raw scores, for the instructions."""
    try:
        entries = json.loads((RlQa.folder / "calibration.json").read_text())["calibrations"]
        rule = judge_endpoint.RULE_JUDGE  # the instructions describe the rule judge's numbers
        entry = next(e for e in entries if e["scale"] == scale and e.get("model", rule) == rule)
        return {"start_raw": f"{entry['start']:.3f}", "reference_raw": f"{entry['reference']:.3f}"}
    except (OSError, ValueError, KeyError, StopIteration):
        return {"start_raw": "?", "reference_raw": "?"}


def config_params(config: ScaleConfig) -> dict[str, int]:
    """The scale's policy architecture, GPTConfig's fields."""
    return dict(config.params["policy"])


def workspace_policy(source: str, policy: dict[str, int]) -> str:
    """policy.py as the workspace's qa.py: importing the workspace's model.py (the package's copy
    falls back to it only outside the repo), with the scale's architecture as CONFIG."""
    qa, imports = re.subn(
        r"^try:\n    from environments\.tiny_gpt import (.*)\nexcept ImportError:.*\n    from model import .*$",
        r"from model import \1",
        source,
        flags=re.M,
    )
    fields = ", ".join(f"{k}={int(v)}" for k, v in policy.items())
    qa, configs = re.subn(r"^CONFIG = GPTConfig\(.*\)$", f"CONFIG = GPTConfig({fields})", qa, flags=re.M)
    if imports != 1 or configs != 1:
        raise RuntimeError("policy.py must import the model in one try/except block and set CONFIG on one line")
    return qa


def judge_payload(sources: dict[str, str], corpus_text: str) -> bytes:
    """judge.bin: the judge's code (compiled), the training prompts' sources and the corpus text."""
    code = compile((RlQa.folder / "judge.py").read_text(), "rl_qa_judge", "exec")
    return zlib.compress(marshal.dumps({"code": code, "sources": sources, "corpus": corpus_text}), 9)


class RlQa(Environment):
    id = "rl_qa"
    title = "Finetune a small GPT for question answering with RL from a judge"
    aggregation = "max"
    score_visible = True
    model_role = "judge"
    legacy_calibration_model = "rule judge"  # before judges were recorded, every calibration used it
    scales = {
        # One scoring: ~100 greedy answers from a 0.26M-parameter model plus the judge, well under a minute.
        "cpu": ScaleConfig(
            "cpu",
            score_timeout_s=300,
            resources=Resources(cpus=2, gpus=0, memory_gb=4),
            memory_limit_mb=3072,
            params={**_COMMON, "repeats": 20, "policy": CPU_POLICY},
        ),
        # A one-layer policy whose models build in about a minute on one core: the scales'
        # machinery (build, prepare, score) end to end, for the tests and a quick look.
        "test": ScaleConfig(
            "test",
            score_timeout_s=120,
            resources=Resources(cpus=2, gpus=0, memory_gb=4),
            memory_limit_mb=2048,
            params={**_COMMON, "repeats": 20, "policy": {"n_layer": 1, "n_head": 2, "n_embd": 96, "block_size": 160}},
        ),
        # A 10.8M-parameter policy for one GPU: built by `python -m environments.rl_qa.reference.build
        # --scale gpu` on the GPU machine (its models, ~45 MB, are not shipped).
        "gpu": ScaleConfig(
            "gpu",
            score_timeout_s=600,
            resources=GPU_RESOURCES,
            device="cuda",
            memory_limit_mb=32_768,
            params={
                **_COMMON,
                "repeats": 20,
                "policy": {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256},
            },
        ),
    }

    def protected_paths(self) -> list[Path]:
        """Every scale's reference folder and build record, whether it is built yet or not."""
        extra: list[Path] = []
        for scale in self.scales:
            files = scale_files(scale)
            extra += [files["info"], files["reference"].parent]
        return [*super().protected_paths(), *dict.fromkeys(extra)]

    def unbuilt(self, scale: str) -> str | None:
        """A scale is built when its folder holds the start, the reference and its answers, made for
        the scale's policy (build_info.json records the architecture it was built for)."""
        files = scale_files(scale)
        wanted = self.scale(scale).params["policy"]
        built = {k: v for k, v in build_info(scale).get("config", {}).items() if k != "vocab_size"}
        if built == wanted and all(files[name].is_file() for name in ("start", "reference", "answers")):
            return None
        size = f"{wanted['n_layer']} layers x {wanted['n_embd']}"
        where = " on a GPU machine" if self.scale(scale).device == "cuda" else ""
        return (
            f"rl_qa's {scale} policy ({size}) has no built start and reference models: run"
            f" `python -m environments.rl_qa.reference.build --scale {scale}`{where}"
        )

    def calibration_model(self, private: Path | None = None) -> str | None:
        if private is not None:
            try:
                return judge_endpoint.judge_name(judge_endpoint.recorded(private))
            except (OSError, ValueError):  # a reader who may not open the private folder: what is configured
                pass
        return judge_endpoint.judge_name(judge_endpoint.configured())

    def judge_uses_network(self, private: Path) -> bool:
        try:
            return judge_endpoint.recorded(private) is not None
        except (OSError, ValueError):
            return False

    def _check_built(self, scale: str) -> None:
        if (why := self.unbuilt(scale)) is not None:
            raise RuntimeError(why)

    def instructions(self, scale: str) -> str:
        from environments.rl_qa import qa_data

        config = self.scale(scale)
        p = config.params
        info = build_info(scale)
        fields = {
            "scale": config.name,
            "n_train": str(sum(e.split == "rl" for e in qa_data.examples())),
            "n_heldout": str(qa_data.N_HELDOUT),
            "repeats": str(p["repeats"]),
            "timeout": f"{config.score_timeout_s:g}",
            "memory": f"{config.memory_limit_mb:,}",
            "max_new": str(p["max_new"]),
            "decoding": "greedily" if p["temperature"] == 0 else f"by sampling at temperature {p['temperature']:g}",
            "heldout_ref": f"{info.get('heldout_win_reference_vs_start', float('nan')):.2f}",
            **_calibrated(config.name),
        }
        text = (self.folder / "instructions.md").read_text()
        return re.sub(r"\{\{(\w+)\}\}", lambda m: fields[m.group(1)], text)

    def prepare(self, workspace: Path, private: Path, scale: str) -> None:
        """The starting model and code, the training prompts, the corpus and the compiled judge
        (training prompts only) in the workspace; held-out prompts and sources in private."""
        from environments.rl_qa import qa_data
        from environments.text_corpus import build_corpus

        self._check_built(scale)
        files = scale_files(scale)
        examples = qa_data.examples()
        rl = [e for e in examples if e.split == "rl"]
        held = [e for e in examples if e.split == "heldout"]
        corpus_text = build_corpus().train.decode("utf-8")
        shutil.copy(files["start"], workspace / "model.pt")
        shutil.copy(files["start"], workspace / "start_model.pt")
        (private / "opponents").mkdir(exist_ok=True)
        for name in ("answers", "reference"):  # the scorer's opponents, private
            shutil.copy(files[name], private / "opponents" / files[name].name)
        shutil.copy(TINY_GPT, workspace / "model.py")
        policy = workspace_policy((self.folder / "policy.py").read_text(), config_params(self.scale(scale)))
        (workspace / "qa.py").write_text(policy)
        for name in ("evaluate.py", "train_rl.py"):
            shutil.copy(self.folder / "start" / name, workspace / name)
        (workspace / "train_prompts.json").write_text(json.dumps([e.prompt for e in rl], indent=1) + "\n")
        (workspace / "train.txt").write_text(corpus_text)
        (workspace / "judge.bin").write_bytes(judge_payload({e.prompt: e.source for e in rl}, corpus_text))
        (private / "heldout.json").write_text(json.dumps([{"prompt": e.prompt, "source": e.source} for e in held]))
        judge_endpoint.record(private, judge_endpoint.configured())

    def install_reference(self, workspace: Path, scale: str) -> None:
        """The reference model (trained by build.py with best-of-n and finetuning) as model.pt."""
        self._check_built(scale)
        shutil.copy(scale_files(scale)["reference"], workspace / "model.pt")

    def submission_files(self, scale: str) -> tuple[str, ...]:
        return ("model.pt",)

    def judge(self, judging: Judging) -> ScoreResult:
        from environments.rl_qa import scorer

        return scorer.score(judging.submission, judging.private, self.scale(judging.scale))
