"""Probes, the OpenAPI document and the docs page need no credentials; unknown routes are 404."""

from __future__ import annotations

from gateway_harness import Served, assert_problem


async def test_healthz_needs_no_credentials(served: Served) -> None:
    response = await served.client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_checks_bus_and_store(served: Served) -> None:
    response = await served.client.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"store": "ok", "bus": "ok"}}


async def test_readyz_is_503_naming_the_bus_when_it_is_down(served: Served) -> None:
    await served.system.bus.close()

    response = await served.client.get("/readyz")

    problem = assert_problem(response, 503, "bus")
    assert [line.split(":")[0] for line in problem["errors"]] == ["bus"]


async def test_readyz_is_503_naming_the_store_when_it_is_down(served: Served) -> None:
    await served.system.store.close()

    response = await served.client.get("/readyz")

    problem = assert_problem(response, 503, "store")
    assert [line.split(":")[0] for line in problem["errors"]] == ["store"]


async def test_openapi_and_docs_are_public(served: Served) -> None:
    spec = await served.client.get("/openapi.json")
    docs = await served.client.get("/docs")

    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert "/actors/v2/{actor}/messages" in paths
    assert "/jobs/{uuid}" in paths
    assert "Problem" in spec.json()["components"]["schemas"]
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


async def test_openapi_documents_what_a_message_may_carry_and_who_may_send_it(
    served: Served,
) -> None:
    spec = (await served.client.get("/openapi.json")).json()
    operation = spec["paths"]["/actors/v2/{actor}/messages"]["post"]

    parameters = {(item["in"], item["name"]): item for item in operation["parameters"]}
    assert set(parameters) == {
        ("path", "actor"),
        ("query", "message"),
        ("header", "x-message-type"),
        ("header", "x-message-id"),
    }
    assert parameters["path", "actor"]["required"] is True
    assert "JobEvent" in parameters["header", "x-message-type"]["description"]
    schemes = {name for requirement in operation["security"] for name in requirement}
    assert schemes == {"Bearer", "Nonce", "NonceHeader"}
    assert schemes <= set(spec["components"]["securitySchemes"])
    assert "application/x-protobuf" in operation["requestBody"]["content"]


async def test_unknown_route_is_a_404_problem(served: Served) -> None:
    response = await served.client.get("/nothing/here", headers=served.bearer())

    assert_problem(response, 404, "/docs")


async def test_wrong_method_is_a_405_problem(served: Served) -> None:
    response = await served.client.put("/jobs", headers=served.bearer())

    assert_problem(response, 405)
