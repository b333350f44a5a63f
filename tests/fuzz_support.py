"""What the fuzz tests add to ``openapi.json`` and to the cases schemathesis generates from it.

Two things a spec alone cannot give a fuzzer:

* **Links** (OpenAPI 3 ``links``) from each create to the calls that use what it made, so the
  stateful test walks create → get / patch / delete on records that exist. ``openapi.json``
  declares none; ``LINKS`` is the list that belongs there, and ``with_links`` adds it to a copy.
* **Real identifiers.** Generated path parameters are random strings, so without help every
  get, patch and delete would be a 404, and PATCH would never validate a body against a stored
  record. ``steer_to_seeded`` makes part of the cases name a seeded record instead. The records
  are made on the server when the tests run, after schemathesis has built its cases, so a steered
  case carries a placeholder (``seeded.bucket_id``) that ``Seeded.resolve`` swaps for the real
  value just before the request is sent.
"""

import copy
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from schemathesis import Case, HookContext
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase
from schemathesis.schemas import BaseSchema

CREATE_NAMESPACE = "create_namespace_v1_namespaces_post"
GET_NAMESPACE = "get_namespace_v1_namespaces__namespace_identifier__get"
DELETE_NAMESPACE = "delete_namespace_v1_namespaces__namespace_identifier__delete"
CREATE_BUCKET = "create_bucket_v1_buckets_post"
GET_BUCKET = "get_bucket_v1_buckets__bucket_identifier__get"
DELETE_BUCKET = "delete_bucket_v1_buckets__bucket_identifier__delete"
CREATE_SYNC = "create_sync_v1_buckets__bucket_id__syncs_post"
LIST_SYNCS = "list_syncs_v1_buckets__bucket_id__syncs_list_post"
GET_SYNC = "get_sync_v1_buckets__bucket_id__syncs__sync_config_id__get"
UPDATE_SYNC = "update_sync_v1_buckets__bucket_id__syncs__sync_config_id__patch"
DELETE_SYNC = "delete_sync_v1_buckets__bucket_id__syncs__sync_config_id__delete"
CREATE_CONNECTION = "create_connection_v1_organizations_connections_post"
GET_CONNECTION = "get_connection_v1_organizations_connections__connection_identifier__get"
DELETE_CONNECTION = "delete_connection_v1_organizations_connections__connection_identifier__delete"

_NAMESPACE = {"namespace_identifier": "$response.body#/namespace_id"}
_BUCKET = {"bucket_identifier": "$response.body#/bucket_id"}
_BUCKET_ID = {"bucket_id": "$response.body#/bucket_id"}
_CONNECTION = {"connection_identifier": "$response.body#/connection_id"}
_SYNC = {
    "bucket_id": "$response.body#/bucket_id",
    "sync_config_id": "$response.body#/sync_config_id",
}

# (operationId of a create, link name, operationId of the target, parameter mapping): each goes
# under ``responses["200"].links`` of the create.
LINKS: list[tuple[str, str, str, dict[str, str]]] = [
    (CREATE_NAMESPACE, "GetNamespace", GET_NAMESPACE, _NAMESPACE),
    (CREATE_NAMESPACE, "DeleteNamespace", DELETE_NAMESPACE, _NAMESPACE),
    (CREATE_BUCKET, "GetBucket", GET_BUCKET, _BUCKET),
    (CREATE_BUCKET, "DeleteBucket", DELETE_BUCKET, _BUCKET),
    (CREATE_BUCKET, "CreateSync", CREATE_SYNC, _BUCKET_ID),
    (CREATE_BUCKET, "ListSyncs", LIST_SYNCS, _BUCKET_ID),
    (CREATE_CONNECTION, "GetConnection", GET_CONNECTION, _CONNECTION),
    (CREATE_CONNECTION, "DeleteConnection", DELETE_CONNECTION, _CONNECTION),
    (CREATE_SYNC, "GetSync", GET_SYNC, _SYNC),
    (CREATE_SYNC, "UpdateSync", UPDATE_SYNC, _SYNC),
    (CREATE_SYNC, "DeleteSync", DELETE_SYNC, _SYNC),
]


def with_links(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with ``LINKS`` on the 200 responses (the spec's own links win)."""
    spec = copy.deepcopy(spec)
    operations = {
        operation["operationId"]: operation
        for methods in spec["paths"].values()
        for operation in methods.values()
    }
    for source, name, target, parameters in LINKS:
        assert target in operations, f"openapi.json has no operation {target}"
        links = operations[source]["responses"]["200"].setdefault("links", {})
        links.setdefault(name, {"operationId": target, "parameters": parameters})
    return spec


# For each path parameter, the placeholders of the seeded records it may name.
PATH_PLACEHOLDERS = {
    "namespace_identifier": ["seeded.namespace_id", "seeded.namespace_name"],
    "bucket_identifier": ["seeded.bucket_id", "seeded.bucket_name"],
    "bucket_id": ["seeded.bucket_id", "seeded.bucket_name"],
    "connection_identifier": ["seeded.connection_id", "seeded.connection_name"],
    "sync_config_id": ["seeded.sync_config_id"],
}
CONNECTION_PLACEHOLDERS = ["seeded.connection_id", "seeded.connection_name"]


@dataclass
class Seeded:
    """Records made on the server under test: placeholder → the real value."""

    values: dict[str, str] = field(default_factory=dict)

    def resolve(self, case: Case[Any]) -> None:
        """Swap the placeholders in ``case`` for the seeded records' real values."""
        for name, value in (case.path_parameters or {}).items():
            if isinstance(value, str) and value in self.values:
                case.path_parameters[name] = self.values[value]
        body = case.body
        if isinstance(body, dict):
            connection = body.get("connection_id")
            if isinstance(connection, str) and connection in self.values:
                body["connection_id"] = self.values[connection]


def _is_create_sync(context: HookContext) -> bool:
    return context.operation is not None and context.operation.label == (
        "POST /v1/buckets/{bucket_id}/syncs"
    )


def steer_to_seeded(schema: BaseSchema) -> None:
    """Register hooks on ``schema`` that aim part of the cases at the seeded records.

    Fuzzing: each generated set of path parameters is kept or replaced by seeded ones, as
    Hypothesis draws, so get, patch and delete answer 200 as well as 404; a create-sync body
    likewise sometimes names the seeded connection.

    Coverage (the deterministic cases schemathesis derives from the schema's bounds): every case
    that does not vary a path parameter is aimed at the seeded records, so each body variant is
    validated against a bucket and sync that exist rather than answered 404 by the lookup.
    """

    @schema.hook("flatmap_path_parameters")
    def seeded_path_parameters(
        context: HookContext, path_parameters: dict[str, Any]
    ) -> st.SearchStrategy[dict[str, Any]]:
        if not path_parameters:
            return st.just(path_parameters)
        seeded = st.fixed_dictionaries(
            {
                name: st.sampled_from(PATH_PLACEHOLDERS[name])
                if name in PATH_PLACEHOLDERS
                else st.just(value)
                for name, value in path_parameters.items()
            }
        )
        return st.one_of(st.just(path_parameters), seeded)

    @schema.hook("flatmap_body")
    def seeded_connection(context: HookContext, body: Any) -> st.SearchStrategy[Any]:
        if (
            not _is_create_sync(context)
            or not isinstance(body, dict)
            or "connection_id" not in body
        ):
            return st.just(body)
        return st.one_of(
            st.just(body),
            st.sampled_from(CONNECTION_PLACEHOLDERS).map(
                lambda connection: {**body, "connection_id": connection}
            ),
        )

    @schema.hook("map_case")
    def seeded_coverage_case(context: HookContext, case: Case[Any]) -> Case[Any]:
        meta = case.meta
        if meta is None or meta.phase.name != TestPhase.COVERAGE:
            return case
        varied = getattr(meta.phase.data, "parameter_location", None)
        if varied != ParameterLocation.PATH:
            for name, value in (case.path_parameters or {}).items():
                if name in PATH_PLACEHOLDERS and isinstance(value, str):
                    case.path_parameters[name] = PATH_PLACEHOLDERS[name][0]
        body = case.body
        if (
            _is_create_sync(context)
            and isinstance(body, dict)
            and isinstance(body.get("connection_id"), str)
        ):
            body["connection_id"] = CONNECTION_PLACEHOLDERS[0]
        return case
