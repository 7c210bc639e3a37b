"""pipelinejobs: event-sourced tracking of data-processing pipelines and their jobs."""

__version__ = "0.1.0"
