"""The process host: wiring adapters into a system (:mod:`.bootstrap`) and running it as
processes with signals and an ordered shutdown (:mod:`.process`)."""
