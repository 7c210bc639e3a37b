"""Example command app ``wordcount-0.1.0``: count the words of text files.

Writes ``counts.csv`` (word, count; most frequent first) and ``summary.json`` (files, lines,
words, distinct words) into the current directory, the job's output folder. A plain program
with an argv interface: the local execution system runs it as
``python -m pipelinejobs.compute.apps.wordcount --min-length N --lowercase true FILE...``.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def count_words(
    texts: Sequence[str], *, min_length: int = 1, lowercase: bool = True
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        for word in WORD.findall(text.lower() if lowercase else text):
            if len(word) >= min_length:
                counts[word] += 1
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wordcount", description=__doc__)
    parser.add_argument("--min-length", type=int, default=1)
    parser.add_argument("--lowercase", choices=("true", "false"), default="true")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in args.files]
    counts = count_words(texts, min_length=args.min_length, lowercase=args.lowercase == "true")
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    with Path("counts.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["word", "count"])
        writer.writerows(ranked)
    summary = {
        "files": [path.name for path in args.files],
        "lines": sum(len(text.splitlines()) for text in texts),
        "words": sum(counts.values()),
        "distinct_words": len(counts),
    }
    Path("summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"counted {summary['words']} words in {len(args.files)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
