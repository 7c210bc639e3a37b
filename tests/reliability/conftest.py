"""The reliability suite reuses the end-to-end process harness (``tests/e2e/pipelinejobs_up``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
