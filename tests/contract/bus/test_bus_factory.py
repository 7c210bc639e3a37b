"""Choosing the adapter from configuration, and the names an operator sees on the broker."""

from __future__ import annotations

import pytest
from bus_helpers import envelope
from pipelinejobs.bus._topology import Topology
from pipelinejobs.bus.factory import create_bus
from pipelinejobs.bus.local import LocalBus
from pipelinejobs.bus.rabbitmq import RabbitMQBus
from pipelinejobs.errors import BusUnavailable, InvalidInput


@pytest.mark.parametrize("url", [None, ""])
async def test_no_amqp_url_means_the_in_process_bus(url: str | None) -> None:
    bus = create_bus(url, partitions=3)

    assert isinstance(bus, LocalBus)
    assert bus.partitions == 3
    assert bus.actors == ("pipelines-manager", "jobs-manager", "jobs-indexer", "agave-proxy")


async def test_an_amqp_url_means_rabbitmq_and_nothing_happens_before_start() -> None:
    bus = create_bus("amqp://guest:guest@127.0.0.1:1/", namespace="ops", actors=["a"])

    assert isinstance(bus, RabbitMQBus)
    assert bus.topology.namespace == "ops"
    with pytest.raises(BusUnavailable, match="not started"):
        await bus.publish([envelope("a")])


@pytest.mark.parametrize(
    "options",
    [{"partitions": 0}, {"partitions": 257}, {"actors": []}, {"actors": ["a", "a"]}],
)
def test_settings_out_of_range_are_refused_with_what_is_accepted(
    options: dict[str, object],
) -> None:
    with pytest.raises(InvalidInput, match=r"partitions|actors"):
        create_bus(None, **options)  # type: ignore[arg-type]


def test_the_topology_names_follow_the_namespace() -> None:
    topology = Topology(namespace="pj", partitions=2, actors=("jobs-manager",))

    assert topology.messages_exchange == "pj.messages"
    assert topology.dead_letter_exchange == "pj.dead-letter"
    assert topology.partition_queue("jobs-manager", 1) == "pj.jobs-manager.p1"
    assert topology.routing_key("jobs-manager", 1) == "jobs-manager.1"
    assert topology.dead_letter_queue("jobs-manager") == "pj.jobs-manager.dead-letter"
    assert topology.members_exchange("jobs-manager") == "pj.jobs-manager.members"
