"""The bus port and its adapters (in-process embedded, RabbitMQ distributed)."""

from pipelinejobs.bus.port import (
    Bus,
    DeadLetter,
    Delivery,
    Envelope,
    Handler,
    Subscription,
    UnknownActor,
)

__all__ = ["Bus", "DeadLetter", "Delivery", "Envelope", "Handler", "Subscription", "UnknownActor"]
