"""Linkage: which catalog records a job is derived from, and which ones name its archive path.

The documentation's rule ("Which Parameter to Pass"): a job is linked to the most specific
level it was given, expanded one level down when that level is not measurements (a sample links
to all of its measurements, an experiment to its samples, an experiment design to its
experiments), while its archive path is a hash of the most general level given, in the order
experiment design, experiment, sample, measurement. So ``sample_id`` plus ``measurement_id``
links the measurements and files the outputs under the sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelinejobs.application.catalog import child_type, find, references
from pipelinejobs.errors import InvalidInput, NotFound
from pipelinejobs.store.port import JSON, CatalogAndFiles

LINKAGE_FIELDS: dict[str, str] = {
    "experiment_design_id": "experiment_design",
    "experiment_id": "experiment",
    "sample_id": "sample",
    "measurement_id": "measurement",
}
"""Linkage parameter -> catalog record type, most general first (the archive path order)."""
MAX_LINKED_IDS = 1000


@dataclass(frozen=True)
class Linkage:
    """``derived_from``: the job's linked records; ``path_uuids``: what its archive path hashes."""

    derived_from: list[str]
    path_uuids: list[str]


def linkage_parameters(document: Mapping[str, Any]) -> dict[str, Any]:
    """The linkage parameters present in a message (body or ``parameters`` sub-document)."""
    return {name: document[name] for name in LINKAGE_FIELDS if document.get(name) is not None}


async def resolve_linkage(store: CatalogAndFiles, parameters: Mapping[str, Any]) -> Linkage:
    """Resolve text ids or typed UUIDs to a :class:`Linkage`; nothing is written.

    ``NotFound`` lists every id the catalog does not have (not just the first); a record whose
    level should be expanded but has no children is refused too, since the job would silently
    be linked to nothing there.
    """
    given = {name: _values(name, parameters[name]) for name in LINKAGE_FIELDS if name in parameters}
    if not given:
        raise InvalidInput(
            "a job must be linked to the catalog: give one of "
            + ", ".join(LINKAGE_FIELDS)
            + " (a text id such as sample.tacc.abcde, a typed UUID, or a list of them)"
        )
    records: dict[str, list[JSON]] = {}
    unknown: list[str] = []
    for name, values in given.items():
        found = []
        for value in values:
            record = await find(store, value, LINKAGE_FIELDS[name])
            if record is None:
                unknown.append(f"{name} {value!r}")
            else:
                found.append(record)
        records[name] = found
    if unknown:
        raise NotFound(
            "not in the catalog: " + ", ".join(unknown) + "; load the records first "
            "(`pipelinejobs catalog load FILE`) or correct the ids"
        )
    most_general = next(iter(records))
    most_specific = list(records)[-1]
    return Linkage(
        derived_from=await _linked(store, records[most_specific]),
        path_uuids=_uuids(records[most_general]),
    )


async def _linked(store: CatalogAndFiles, records: list[JSON]) -> list[str]:
    """The records themselves for measurements, else each record's children one level down."""
    record_type = str(records[0]["type"])
    below = child_type(record_type)
    if below is None:
        return _uuids(records)
    linked: list[JSON] = []
    childless = []
    for record in records:
        children = await store.find_catalog_children(str(record["uuid"]), below)
        if not children:
            childless.append(str(record["id"]))
        linked.extend(children)
    if childless:
        raise NotFound(
            f"{record_type} {', '.join(childless)} has no {below} records in the catalog, so "
            f"the job would be linked to nothing there; load its {below}s or link the job "
            f"with {below}_id"
        )
    return _uuids(linked)


def _uuids(records: list[JSON]) -> list[str]:
    return sorted({str(record["uuid"]) for record in records})


def _values(name: str, value: Any) -> list[str]:
    values = references(value, name)
    if len(values) > MAX_LINKED_IDS:
        raise InvalidInput(f"{name} lists {len(values)} ids; at most {MAX_LINKED_IDS} are accepted")
    return list(dict.fromkeys(values))
