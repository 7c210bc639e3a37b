"""The demo: content that ``pipelinejobs up`` loads, and the walkthrough ``pipelinejobs demo``
runs (the same steps as ``docs/walkthrough.md``)."""

from pipelinejobs.demo.content import DEMO_CATALOG, DEMO_PIPELINE, DOCUMENTED_PIPELINE
from pipelinejobs.demo.install import DemoContent, install_demo
from pipelinejobs.demo.walkthrough import (
    Walkthrough,
    WalkthroughFailed,
    WalkthroughTimedOut,
    run_walkthrough,
)

__all__ = [
    "DEMO_CATALOG",
    "DEMO_PIPELINE",
    "DOCUMENTED_PIPELINE",
    "DemoContent",
    "Walkthrough",
    "WalkthroughFailed",
    "WalkthroughTimedOut",
    "install_demo",
    "run_walkthrough",
]
