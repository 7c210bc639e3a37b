"""Example command app ``wordcount-0.1.0``: count the words of text files.

Writes ``counts.csv`` (word, count; most frequent first) and ``summary.json`` (files, lines,
words, distinct words) into the current directory, the job's output folder. A plain program
with an argv interface: the local execution system runs it as
``python -m pipelinejobs.compute.apps.wordcount --min-length N --lowercase true --strict false
FILE...``.

Bytes that are not UTF-8 are replaced and counted around, unless ``--strict true``: then a file
that is not UTF-8 text fails the app (exit code 1, the file and the offending byte on stderr),
which is what a job that is given the wrong input should do.
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
EXIT_NOT_TEXT = 1


class NotText(Exception):
    """An input file is not UTF-8 text (with ``--strict true``)."""


def count_words(
    texts: Sequence[str], *, min_length: int = 1, lowercase: bool = True
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        for word in WORD.findall(text.lower() if lowercase else text):
            if len(word) >= min_length:
                counts[word] += 1
    return counts


def read_text(path: Path, *, strict: bool) -> str:
    """The file's text; with ``strict``, ``NotText`` naming the file and the first bad byte."""
    data = path.read_bytes()
    if not strict:
        return data.decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotText(
            f"wordcount: {path.name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}: {exc.reason}); give text files, or strict=false to count the words "
            "around bytes that cannot be decoded"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wordcount", description=__doc__)
    parser.add_argument("--min-length", type=int, default=1)
    parser.add_argument("--lowercase", choices=("true", "false"), default="true")
    parser.add_argument("--strict", choices=("true", "false"), default="false")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        texts = [read_text(path, strict=args.strict == "true") for path in args.files]
    except NotText as exc:
        print(exc, file=sys.stderr)
        return EXIT_NOT_TEXT
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
