"""The shared corpus: deterministic, disjoint train/validation, exact byte tokenizer."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from conftest import REPO

from environments.text_corpus import (
    MASK,
    PAD,
    VOCAB_SIZE,
    build_corpus,
    decode,
    documents,
    encode,
    in_validation,
    python_documents,
    write_shipped,
)


def test_corpus_is_large_enough_and_split_without_overlap() -> None:
    corpus = build_corpus()
    assert len(corpus.train) > 500_000 and len(corpus.validation) > 40_000, corpus.sizes
    assert not set(corpus.train_names) & set(corpus.validation_names)
    assert len(corpus.validation_names) >= 10
    held_out = dict(documents())
    for name in corpus.validation_names[:20]:  # a held-out document is not in the training text
        assert held_out[name].encode() not in corpus.train


def test_the_training_part_loads_without_the_protected_validation_file() -> None:
    """What a scorer's account reads: the same training text, and no held-out document."""
    train_only = build_corpus(include_validation=False)
    assert train_only.train == build_corpus().train and train_only.validation == b""
    assert {name for name, _ in documents(include_validation=False)} == set(build_corpus().train_names)


def test_an_extraction_ships_and_loads_back_deduplicated_in_order_and_split(tmp_path: Path) -> None:
    """What `python -m environments.text_corpus` does, with this Python's documentation, into a temporary folder."""
    extracted = python_documents()
    write_shipped(extracted, tmp_path)
    loaded = documents(folder=tmp_path)
    seen: set[str] = set()
    assert loaded == [(n, t) for n, t in extracted if not (t in seen or seen.add(t))]
    train = {name for name, _ in documents(include_validation=False, folder=tmp_path)}
    assert train and train == {name for name, _ in loaded if not in_validation(name)}


def test_corpus_is_the_same_in_another_process() -> None:
    code = (
        "import hashlib; from environments.text_corpus import build_corpus; c = build_corpus(); "
        "print(hashlib.sha256(c.train).hexdigest(), hashlib.sha256(c.validation).hexdigest())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    corpus = build_corpus()
    here = f"{hashlib.sha256(corpus.train).hexdigest()} {hashlib.sha256(corpus.validation).hexdigest()}"
    assert other.stdout.strip() == here


def test_byte_tokenizer_round_trips_and_keeps_specials_apart() -> None:
    text = "naïve café – ∑ x² (ok)"
    tokens = encode(text)
    assert max(tokens) < 256 and decode(tokens) == text
    assert decode([*tokens, PAD, MASK]) == text
    assert VOCAB_SIZE == 258 and {PAD, MASK} == {256, 257}
