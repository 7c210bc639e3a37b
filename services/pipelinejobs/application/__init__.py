"""The service layer: application logic the actors share (the ledger of event-sourced documents,
managed jobs, linkage, index filters, authorization, the catalog, message submission).

It sits between the pure :mod:`pipelinejobs.domain` and the :mod:`pipelinejobs.actors`; it talks
to persistence only through the ports."""
