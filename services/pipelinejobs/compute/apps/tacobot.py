"""Example callable app ``tacobot9000-0.1.0u1`` (the documentation's imaginary TACObot).

A plain Python function: its parameters and their types are the app's parameter schema, and
``file1`` (an input) arrives as the path of the staged file. Writes ``tacos.json`` into the
current directory, the job's output folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field

MAX_ORDER_NOTE = 200


def make_tacos(
    salsa: bool,
    cheese: bool,
    avocado: bool = False,
    quantity: Annotated[int, Field(ge=1, le=100, description="how many tacos")] = 1,
    file1: Path | None = None,
) -> None:
    """Make ``quantity`` tacos; the first line of ``file1``, if given, is the order note."""
    note = ""
    if file1 is not None:
        lines = file1.read_text(encoding="utf-8", errors="replace").splitlines()
        note = lines[0][:MAX_ORDER_NOTE] if lines else ""
    toppings = [
        name
        for name, wanted in (("salsa", salsa), ("cheese", cheese), ("avocado", avocado))
        if wanted
    ]
    tacos = [{"number": n, "toppings": toppings} for n in range(1, quantity + 1)]
    order = {"note": note, "quantity": quantity, "tacos": tacos}
    Path("tacos.json").write_text(json.dumps(order, indent=2) + "\n", encoding="utf-8")
