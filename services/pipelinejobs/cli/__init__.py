"""The ``pipelinejobs`` command: one module per command group; :mod:`.main` assembles them."""
