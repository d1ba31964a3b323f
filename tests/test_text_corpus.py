"""The shared corpus: deterministic, disjoint train/validation, exact byte tokenizer."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from conftest import REPO

from environments.text_corpus import MASK, PAD, VOCAB_SIZE, build_corpus, decode, encode


def test_corpus_is_large_enough_and_split_without_overlap() -> None:
    corpus = build_corpus()
    assert len(corpus.train) > 500_000 and len(corpus.validation) > 40_000, corpus.sizes
    assert not set(corpus.train_names) & set(corpus.validation_names)
    assert len(corpus.validation_names) >= 10
    for name in corpus.validation_names[:20]:  # a held-out document is not in the training text
        kind, _, key = name.partition(":")
        if kind == "topic":
            from pydoc_data.topics import topics

            assert topics[key].encode() not in corpus.train


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
