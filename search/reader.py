"""The reading stage: a small learned model that weighs what each candidate moment says against the
query, orders the candidates by it, and decides whether anything answers.

The bi-encoder's cosine alone cannot tell an answer from a near miss on the same topic (the
decision's AUC on dev was 0.77 with two hand-picked signals). The reader looks at every signal
a moment has together (its passage's and its own window's cosine, how much of the query's word
weight it says, as typed or only in look-alike spellings, whether its talk is the one the other
candidates crowd around, whether it is a greeting) and learns how they combine, from a **train
split** that no evaluation talk is part of: the scripts and member questions of ``bench/train/``.

Two models, both tiny and both in ``reader.json`` beside this file, rebuilt by
``bench/train/fit_reader.py`` (which says how every number was chosen):

- **moments**: a one-hidden-layer network over ``MOMENT_SIGNALS``, trained listwise (softmax over
  a question's candidates, the right moment as target). Its logit orders the candidates.
- **answer**: a logistic model over ``QUERY_SIGNALS`` (the reader's best logit, how far it stands
  above the best of another talk, the query's length...) and the query's own embedding (what it
  asks about: a near miss asks for what talks on its topic do not say, such as a figure or a
  rule nobody mentioned), trained on answerable questions against near misses nothing answers.
  Its strength of regularisation and threshold were chosen on the dev split.

Runs on numpy at about 20 µs a query: no torch, nothing to download.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).with_name("reader.json")

# What ``search.engine`` measures for each candidate moment, in this order.
MOMENT_SIGNALS = (
    "passage_cosine",  # the query against the moment's passage
    "window_cosine",  # ... against the window starting at the moment's line
    "passage_coverage",  # share of the query's word weight the passage holds (look-alikes at a discount)
    "passage_said",  # ... holds as typed
    "window_coverage",  # share the moment's own window holds
    "own_coverage",  # share the moment's first line holds, where the window holds every word
    "literal",  # the passage holds every word as typed
    "says_words",  # the lines shown hold every word
    "courtesy",  # the lines shown are a greeting, thanks or outro
    "length",  # log(1 + words shown)
    "passage_gap",  # best passage cosine of any candidate minus this one's
    "window_gap",  # best window cosine of any candidate minus this one's
    "talk_gap",  # best passage cosine of any candidate minus the best of this moment's talk
    "talk_share",  # share of the candidates from this moment's talk
    "cosine_rank",  # log(1 + rank of its passage cosine among the candidates)
    "named_talk",  # the query names something its talk's details name
    "formula",  # the score the cosine and keyword formula gives it (``Ranking``)
    "formula_gap",  # the best formula score of any candidate minus this one's
)
# What the answer-or-not decision weighs for a query, in this order, followed by the query's embedding.
QUERY_SIGNALS = (
    "best_logit",  # the reader's best moment
    "logit_margin",  # ... above the best moment of any other talk
    "best_cosine",  # the best of the top three moments' windows, meaning only
    "standout",  # the nearest passage's cosine above the mean of the ten nearest
    "said",  # the most of the query's word weight any candidate holds as typed
    "coverage",  # ... the best moment's passage holds, look-alikes included
    "query_words",  # log(1 + words in the query)
)


@dataclass(frozen=True)
class Reader:
    """The two fitted models (``reader.json``); ``load`` reads them once per process."""

    mean: np.ndarray
    scale: np.ndarray
    hidden: np.ndarray  # (units, signals)
    hidden_bias: np.ndarray
    out: np.ndarray  # (units,)
    linear: np.ndarray  # (signals,): a straight path beside the hidden layer
    out_bias: float
    answer_mean: np.ndarray  # (QUERY_SIGNALS + the query embedding's dimensions,), like the two below
    answer_scale: np.ndarray
    answer_weights: np.ndarray
    answer_bias: float
    threshold: float  # answered when the probability reaches this (chosen on dev)
    # On the reader's scale (a moment's probability of being the answer), chosen on dev: a talk's
    # further moments rank this much lower each.
    talk_penalty: float = 0.05
    # Whether its answer-or-not model decides, or ``search.ranking.Decision``: whichever leaves more
    # unanswerable dev questions empty with at most 5% of the answerable ones withheld.
    decides: bool = True
    model: str = ""  # the embedding model whose cosines it was fitted on
    about: str = ""

    def logits(self, signals: np.ndarray) -> np.ndarray:
        """One score per candidate moment (rows of ``MOMENT_SIGNALS``): higher reads as more of an answer."""
        x = (np.atleast_2d(signals) - self.mean) / self.scale
        h = np.maximum(0.0, x @ self.hidden.T + self.hidden_bias)
        return h @ self.out + x @ self.linear + self.out_bias

    @property
    def query_dimensions(self) -> int:
        """How long a query embedding the answer model reads after ``QUERY_SIGNALS``."""
        return len(self.answer_weights) - len(QUERY_SIGNALS)

    def answer_probability(self, signals: np.ndarray) -> float:
        """The chance that a query has an answer among its candidates, from its ``reading``
        (``QUERY_SIGNALS`` followed by its embedding, ``query_reading``)."""
        z = float(((signals - self.answer_mean) / self.answer_scale) @ self.answer_weights + self.answer_bias)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def answers(self, signals: np.ndarray) -> bool:
        return self.answer_probability(signals) >= self.threshold

    def to_dict(self) -> dict:
        return {
            "about": self.about,
            "model": self.model,
            "moment_signals": list(MOMENT_SIGNALS),
            "query_signals": list(QUERY_SIGNALS),
            "query_dimensions": self.query_dimensions,
            "moments": {
                "mean": self.mean.tolist(),
                "scale": self.scale.tolist(),
                "hidden": self.hidden.tolist(),
                "hidden_bias": self.hidden_bias.tolist(),
                "out": self.out.tolist(),
                "linear": self.linear.tolist(),
                "out_bias": self.out_bias,
            },
            "answer": {
                "mean": self.answer_mean.tolist(),
                "scale": self.answer_scale.tolist(),
                "weights": self.answer_weights.tolist(),
                "bias": self.answer_bias,
                "threshold": self.threshold,
            },
            "talk_penalty": self.talk_penalty,
            "decides": self.decides,
        }

    @classmethod
    def blank(cls, model: str, dimensions: int, units: int = 1) -> Reader:
        """A reader that scores every moment alike and answers everything: what fitting starts from
        (``dimensions``: the length of the model's query embeddings)."""
        n, q = len(MOMENT_SIGNALS), len(QUERY_SIGNALS) + dimensions
        return cls(
            mean=np.zeros(n),
            scale=np.ones(n),
            hidden=np.zeros((units, n)),
            hidden_bias=np.zeros(units),
            out=np.zeros(units),
            linear=np.zeros(n),
            out_bias=0.0,
            answer_mean=np.zeros(q),
            answer_scale=np.ones(q),
            answer_weights=np.zeros(q),
            answer_bias=50.0,
            threshold=0.5,
            model=model,
        )

    @classmethod
    def from_dict(cls, data: dict) -> Reader:
        if tuple(data["moment_signals"]) != MOMENT_SIGNALS or tuple(data["query_signals"]) != QUERY_SIGNALS:
            raise ValueError("reader.json was fitted on other signals: run bench/train/fit_reader.py")
        m, a = data["moments"], data["answer"]
        if len(a["weights"]) != len(QUERY_SIGNALS) + data.get("query_dimensions", 0):
            raise ValueError("reader.json's answer model reads another query: run bench/train/fit_reader.py")
        array = np.asarray
        return cls(
            mean=array(m["mean"]),
            scale=array(m["scale"]),
            hidden=array(m["hidden"]).reshape(-1, len(MOMENT_SIGNALS)),
            hidden_bias=array(m["hidden_bias"]),
            out=array(m["out"]),
            linear=array(m["linear"]),
            out_bias=float(m["out_bias"]),
            answer_mean=array(a["mean"]),
            answer_scale=array(a["scale"]),
            answer_weights=array(a["weights"]),
            answer_bias=float(a["bias"]),
            threshold=float(a["threshold"]),
            talk_penalty=float(data["talk_penalty"]),
            decides=bool(data.get("decides", True)),
            model=data.get("model", ""),
            about=data.get("about", ""),
        )


def query_reading(signals: np.ndarray, query_vector: np.ndarray) -> np.ndarray:
    """What the answer model reads: a query's ``QUERY_SIGNALS`` followed by its embedding."""
    return np.concatenate([signals, query_vector])


@cache
def load(path: Path = WEIGHTS) -> Reader | None:
    """The fitted reader, or None where none has been fitted (the engine then ranks as before)."""
    if not path.exists():
        return None
    return Reader.from_dict(json.loads(path.read_text()))
