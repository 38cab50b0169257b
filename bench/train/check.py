"""Checks the train split's scripts (bench/train/scripts-*.json): shapes, counts and every answer.

    .venv/bin/python bench/train/check.py                 # every file
    .venv/bin/python bench/train/check.py scripts-a.json  # one file

Each answer must be an exact substring of one turn's text and occur exactly once in its script;
each "none" question must share no answer with any script (checked by hand by its author).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = ("paraphrase", "qa", "exact", "name", "none")
FORMATS = ("webinar", "talk")


def problems(path: Path) -> list[str]:
    found: list[str] = []
    data = json.loads(path.read_text())
    slugs: set[str] = set()
    for t, talk in enumerate(data["talks"]):
        where = f"{path.name} talk {t} ({talk.get('slug')})"
        for key in ("slug", "title", "format", "speakers", "organisation", "date", "tags", "description", "turns"):
            if key not in talk:
                found.append(f"{where}: no {key}")
        if talk.get("format") not in FORMATS:
            found.append(f"{where}: format must be one of {FORMATS}")
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", talk.get("slug", "")):
            found.append(f"{where}: slug must be lower-case words joined by '-'")
        if talk.get("slug") in slugs:
            found.append(f"{where}: slug used twice")
        slugs.add(talk.get("slug"))
        turns = talk.get("turns", [])
        for i, turn in enumerate(turns):
            if set(turn) - {"speaker", "text"} or not turn.get("speaker") or not turn.get("text", "").strip():
                found.append(f"{where}: turn {i} needs exactly a speaker and a text")
        script = "\n".join(turn.get("text", "") for turn in turns)
        words = len(script.split())
        if words < 500:
            found.append(f"{where}: only {words} words (at least 500)")
        kinds: Counter[str] = Counter()
        for q, question in enumerate(talk.get("questions", [])):
            kind = question.get("kind")
            kinds[kind] += 1
            if kind not in KINDS:
                found.append(f"{where}: question {q} kind {kind!r}")
                continue
            if not question.get("query", "").strip():
                found.append(f"{where}: question {q} has no query")
            answer = question.get("answer")
            if kind == "none":
                if answer:
                    found.append(f"{where}: question {q} is 'none' but has an answer")
                continue
            if not answer:
                found.append(f"{where}: question {q} ({kind}) has no answer")
                continue
            in_turns = [i for i, turn in enumerate(turns) if answer in turn.get("text", "")]
            if not in_turns:
                found.append(f"{where}: question {q} answer is not inside one turn: {answer!r}")
            elif script.count(answer) != 1:
                found.append(f"{where}: question {q} answer occurs {script.count(answer)} times: {answer!r}")
        if sum(kinds.values()) < 40:
            found.append(f"{where}: {sum(kinds.values())} questions (at least 40): {dict(kinds)}")
        for kind in KINDS:
            if not kinds[kind]:
                found.append(f"{where}: no {kind} question")
    return found


def main(argv: list[str]) -> int:
    paths = [HERE / name for name in argv] or sorted(HERE.glob("scripts-*.json"))
    total = Counter()
    bad = []
    for path in paths:
        bad += problems(path)
        for talk in json.loads(path.read_text())["talks"]:
            total["talks"] += 1
            total.update(q["kind"] for q in talk.get("questions", []))
    for line in bad:
        print(line)
    print(dict(total), "ok" if not bad else f"{len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
