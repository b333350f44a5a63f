"""openapi.json is generated from the app, and it carries the vendor's contract (D16)."""

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "openapi.json"
REFERENCE = REPO / "reference" / "mixpeek-api-0.81-slice.openapi.json"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    from app.main import create_app

    document: dict[str, Any] = create_app().openapi()
    return document


def test_committed_openapi_matches_the_app(spec: dict[str, Any]) -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed == spec, "openapi.json is stale: run `make openapi` and commit it"


def test_served_openapi_needs_no_key(client: Any, spec: dict[str, Any]) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == spec


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def _branches(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a property, with references resolved."""
    alternatives = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return [_resolve(document, alt) for alt in alternatives if alt.get("type") != "null"]


def _shape(branch: dict[str, Any]) -> dict[str, Any]:
    """What must agree between the reference and us: type, bounds, enum values."""
    keys = ("type", "minimum", "maximum", "minLength", "maxLength", "format")
    shape = {key: branch[key] for key in keys if key in branch}
    if "enum" in branch:
        shape["enum"] = set(branch["enum"])
    return shape


def _reference() -> dict[str, Any]:
    if not REFERENCE.exists():
        pytest.fail(f"the vendor's reference document is missing at {REFERENCE}")
    reference: dict[str, Any] = json.loads(REFERENCE.read_text())
    return reference


@pytest.mark.parametrize("model", ["SyncUpdateRequest", "SyncConfigurationModel"])
def test_sync_models_carry_every_reference_property(spec: dict[str, Any], model: str) -> None:
    reference = _reference()
    theirs = reference["components"]["schemas"][model]["properties"]
    ours = spec["components"]["schemas"][model]["properties"]
    for name, their_schema in theirs.items():
        assert name in ours, f"{model}.{name} is missing"
        their_branches = _branches(reference, their_schema)
        our_branches = _branches(spec, ours[name])
        for their_branch in their_branches:
            wanted = _shape(their_branch)
            found = [_shape(branch) for branch in our_branches]
            if "enum" in wanted:
                # Ours may accept more values (the newer API's), never fewer.
                assert any(
                    shape.get("type") == wanted.get("type") and wanted["enum"] <= shape["enum"]
                    for shape in found
                    if "enum" in shape
                ), f"{model}.{name}: enum {wanted} not covered by {found}"
            else:
                # Ours may add a bound the reference lacks where the seed sets one
                # (description: at most 500 characters), never change or drop one.
                assert any(wanted.items() <= shape.items() for shape in found), (
                    f"{model}.{name}: {wanted} not in {found}"
                )


def test_patch_fields_that_reject_null_are_not_declared_nullable(spec: dict[str, Any]) -> None:
    properties = spec["components"]["schemas"]["SyncUpdateRequest"]["properties"]
    for name in ("status", "is_active", "polling_interval_seconds", "batch_size"):
        alternatives = properties[name].get("anyOf", [properties[name]])
        assert all(alt.get("type") != "null" for alt in alternatives), name
    for name in ("description", "metadata"):
        assert {"type": "null"} in properties[name]["anyOf"], name


def test_spec_declares_bearer_auth_and_the_namespace_header(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "Authorization: Bearer <API key>",
    }
    patch = spec["paths"]["/v1/buckets/{bucket_id}/syncs/{sync_config_id}"]["patch"]
    assert patch["security"] == [{"HTTPBearer": []}]
    headers = [p["name"] for p in patch["parameters"] if p["in"] == "header"]
    assert headers == ["X-Namespace", "If-Match"]
    assert "security" not in spec["paths"]["/v1/health"]["get"]


def test_every_operation_documents_its_errors_in_the_envelope(spec: dict[str, Any]) -> None:
    envelope = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"400", "404", "405", "422", "500"} <= statuses, (method, path)
            if path != "/v1/health":
                assert "401" in statuses, (method, path)
            if method in ("post", "patch", "delete"):
                assert {"413", "415"} <= statuses, (method, path)
            for status, response in operation["responses"].items():
                if not status.startswith(("2", "3")):
                    assert response["content"]["application/json"]["schema"] == envelope


def test_every_route_the_issue_names_is_served(app: FastAPI, spec: dict[str, Any]) -> None:
    wanted = {
        ("post", "/v1/namespaces"),
        ("get", "/v1/namespaces"),
        ("post", "/v1/namespaces/list"),
        ("get", "/v1/namespaces/{namespace_identifier}"),
        ("delete", "/v1/namespaces/{namespace_identifier}"),
        ("post", "/v1/buckets"),
        ("get", "/v1/buckets"),
        ("post", "/v1/buckets/list"),
        ("get", "/v1/buckets/{bucket_identifier}"),
        ("delete", "/v1/buckets/{bucket_identifier}"),
        ("post", "/v1/organizations/connections"),
        ("post", "/v1/organizations/connections/list"),
        ("get", "/v1/organizations/connections/{connection_identifier}"),
        ("delete", "/v1/organizations/connections/{connection_identifier}"),
        ("post", "/v1/buckets/{bucket_id}/syncs"),
        ("post", "/v1/buckets/{bucket_id}/syncs/list"),
        ("get", "/v1/buckets/{bucket_id}/syncs/{sync_config_id}"),
        ("patch", "/v1/buckets/{bucket_id}/syncs/{sync_config_id}"),
        ("delete", "/v1/buckets/{bucket_id}/syncs/{sync_config_id}"),
        ("get", "/v1/health"),
        ("post", "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/jobs"),
        ("get", "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/jobs/{sync_job_id}"),
        ("get", "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/metrics"),
        ("post", "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq"),
        ("post", "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq/requeue"),
        ("post", "/v1/buckets/{bucket_id}/syncs/{sync_config_id}/dlq/bulk-mark-failed"),
    }
    served = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert wanted <= served
