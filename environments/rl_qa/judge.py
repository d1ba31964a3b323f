"""The judge of `rl_qa`: a fixed, deterministic pairwise preference between two answers.

Self-contained (standard library only): the scorer imports it, and `prepare` ships it to
the workspace only compiled and compressed inside `judge.bin`, with the source texts of
the training prompts and nothing else, so `evaluate` there knows training prompts only.

An answer's utility combines
- relevance to the prompt's source document, which the participant never sees as such:
  the share of the answer's content words found in the source (words of the prompt
  itself earn nothing) and how many distinct source words it covers;
- fluency: the share of its words, and of its adjacent word pairs, seen in the corpus;
- penalties for repeated word trigrams and for a length outside a comfortable range.
The preference for answer a over b is a logistic function of the utility difference.
The scorer counts a preference within TIE_BAND of 0.5 as a tie, decided by a seeded coin.
"""

from __future__ import annotations

import itertools
import math
import re

TEMPERATURE = 0.1
TIE_BAND = 0.1  # |p - 0.5| below this is a tie
MIN_CHARS, MAX_CHARS = 40, 160
_STOP_WORDS = (
    "the and for that this with from are was were been being have has had not but can could will would "
    "should may might must shall its it's into onto than then them they their there these those what which "
    "who whom whose when where why how all any each few more most other some such only own same too very "
    "just also one two you your our out off over under again further once here both nor does did doing "
    "about above below between after before during through while because until"
)
STOP = frozenset(_STOP_WORDS.split())
_WORD = re.compile(r"[a-z_][a-z0-9_]*")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content(ws: list[str]) -> list[str]:
    return [w for w in ws if len(w) >= 3 and w not in STOP]


class Judge:
    """Knows the source text of each prompt it may judge, and the corpus for fluency."""

    def __init__(self, sources: dict[str, str], corpus_text: str) -> None:
        self._sources = {p: frozenset(content(words(t))) for p, t in sources.items()}
        corpus_words = words(corpus_text)
        self._vocab = frozenset(corpus_words)
        self._pairs = frozenset(itertools.pairwise(corpus_words))

    def knows(self, prompt: str) -> bool:
        return prompt in self._sources

    def utility(self, prompt: str, answer: str) -> float:
        if prompt not in self._sources:
            raise ValueError("the judge knows no source for this prompt (only the training prompts can be judged)")
        answer = answer.strip()
        ws = words(answer)
        if not ws:
            return -1.0
        source = self._sources[prompt] - frozenset(words(prompt))
        cw = [w for w in content(ws) if w not in frozenset(words(prompt))]
        precision = sum(w in source for w in cw) / len(cw) if cw else 0.0
        coverage = min(1.0, len(set(cw) & source) / 6)
        relevance = 0.5 * precision + 0.5 * coverage
        known = sum(w in self._vocab for w in ws) / len(ws)
        pairs = list(itertools.pairwise(ws))
        seen = sum(p in self._pairs for p in pairs) / len(pairs) if pairs else 0.0
        fluency = 0.5 * known + 0.5 * seen
        trigrams = list(zip(ws, ws[1:], ws[2:], strict=False))
        repetition = 1.0 - len(set(trigrams)) / len(trigrams) if trigrams else 0.0
        n = len(answer)
        length = max(0.0, (MIN_CHARS - n) / MIN_CHARS) + max(0.0, (n - MAX_CHARS) / MAX_CHARS)
        return relevance + 0.6 * fluency - 1.0 * repetition - 0.5 * length

    def prefer(self, prompt: str, answer_a: str, answer_b: str) -> float:
        """The probability that answer_a is the better answer to prompt."""
        diff = self.utility(prompt, answer_a) - self.utility(prompt, answer_b)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, diff / TEMPERATURE))))
