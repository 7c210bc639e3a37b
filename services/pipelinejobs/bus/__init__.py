"""The bus port and its adapters (in-process embedded, RabbitMQ distributed)."""

from pipelinejobs.bus._envelopes import UnknownActor
from pipelinejobs.bus.port import Bus, DeadLetter, Delivery, Envelope, Handler, Subscription

__all__ = ["Bus", "DeadLetter", "Delivery", "Envelope", "Handler", "Subscription", "UnknownActor"]
