"""What the fuzz tests add to ``openapi.json`` before schemathesis reads it.

Two things a spec alone cannot give a fuzzer:

* **Links** (OpenAPI 3 ``links``) from each create to the calls that use what it made, so the
  stateful test walks create → get / patch / delete on records that exist. ``openapi.json``
  declares none; ``LINKS`` below is the list to add there, and ``with_links`` adds it to a copy.
* **Real identifiers.** Generated path parameters are random strings, so without help nearly every
  get, patch and delete would be a 404 and PATCH validation on a stored record would never run.
  ``Seeded`` holds one namespace, bucket, connection and sync made on the server under test, and
  the hooks in ``steer_to_seeded`` send part of the generated cases to them.
"""

import copy
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from schemathesis import HookContext
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
DELETE_CONNECTION = (
    "delete_connection_v1_organizations_connections__connection_identifier__delete"
)

CREATE_SYNC_LABEL = "POST /v1/buckets/{bucket_id}/syncs"

_NAMESPACE = {"namespace_identifier": "$response.body#/namespace_id"}
_BUCKET = {"bucket_identifier": "$response.body#/bucket_id"}
_CONNECTION = {"connection_identifier": "$response.body#/connection_id"}
_SYNC = {
    "bucket_id": "$response.body#/bucket_id",
    "sync_config_id": "$response.body#/sync_config_id",
}

# (operationId of the create, link name, operationId of the target, parameter mapping), all on the
# create's 200 response.
LINKS: list[tuple[str, str, str, dict[str, str]]] = [
    (CREATE_NAMESPACE, "GetNamespace", GET_NAMESPACE, _NAMESPACE),
    (CREATE_NAMESPACE, "DeleteNamespace", DELETE_NAMESPACE, _NAMESPACE),
    (CREATE_BUCKET, "GetBucket", GET_BUCKET, _BUCKET),
    (CREATE_BUCKET, "DeleteBucket", DELETE_BUCKET, _BUCKET),
    (CREATE_BUCKET, "CreateSync", CREATE_SYNC, {"bucket_id": "$response.body#/bucket_id"}),
    (CREATE_BUCKET, "ListSyncs", LIST_SYNCS, {"bucket_id": "$response.body#/bucket_id"}),
    (CREATE_CONNECTION, "GetConnection", GET_CONNECTION, _CONNECTION),
    (CREATE_CONNECTION, "DeleteConnection", DELETE_CONNECTION, _CONNECTION),
    (CREATE_SYNC, "GetSync", GET_SYNC, _SYNC),
    (CREATE_SYNC, "UpdateSync", UPDATE_SYNC, _SYNC),
    (CREATE_SYNC, "DeleteSync", DELETE_SYNC, _SYNC),
]


def with_links(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``spec`` with ``LINKS`` on the 200 responses (kept if the spec has its own)."""
    spec = copy.deepcopy(spec)
    operations = {
        operation["operationId"]: operation
        for methods in spec["paths"].values()
        for operation in methods.values()
    }
    for source, name, target, parameters in LINKS:
        assert target in operations, f"no operation {target} in openapi.json"
        links = operations[source]["responses"]["200"].setdefault("links", {})
        links.setdefault(name, {"operationId": target, "parameters": parameters})
    return spec


@dataclass
class Seeded:
    """Records made on the server under test, that generated cases are steered to."""

    namespace_id: str = ""
    bucket_id: str = ""
    bucket_name: str = ""
    connection_id: str = ""
    connection_name: str = ""
    sync_config_id: str = ""
    ready: bool = field(default=False)

    def path_values(self) -> dict[str, list[str]]:
        """For each path parameter, the real values it may take."""
        return {
            "namespace_identifier": [self.namespace_id],
            "bucket_identifier": [self.bucket_id, self.bucket_name],
            "bucket_id": [self.bucket_id, self.bucket_name],
            "connection_identifier": [self.connection_id, self.connection_name],
            "sync_config_id": [self.sync_config_id],
        }


def steer_to_seeded(schema: BaseSchema, seeded: Seeded) -> None:
    """Register hooks on ``schema`` that send some cases to the seeded records.

    Each path parameter keeps its generated value or takes a real one, so get, patch and delete
    answer 200 (and run their validation on a stored record) as well as 404. A create-sync body
    that names a connection sometimes names the seeded one, so the create can succeed.
    """

    @schema.hook("flatmap_path_parameters")
    def real_path_parameters(
        context: HookContext, path_parameters: dict[str, Any]
    ) -> st.SearchStrategy[dict[str, Any]]:
        if not seeded.ready or not path_parameters:
            return st.just(path_parameters)
        options = seeded.path_values()
        real = {
            name: st.sampled_from(options[name]) if name in options else st.just(value)
            for name, value in path_parameters.items()
        }
        return st.one_of(st.just(path_parameters), st.fixed_dictionaries(real))

    @schema.hook("flatmap_body")
    def real_connection(context: HookContext, body: Any) -> st.SearchStrategy[Any]:
        operation = context.operation
        if (
            not seeded.ready
            or operation is None
            or operation.label != CREATE_SYNC_LABEL
            or not isinstance(body, dict)
            or "connection_id" not in body
        ):
            return st.just(body)
        return st.one_of(
            st.just(body),
            st.sampled_from([seeded.connection_id, seeded.connection_name]).map(
                lambda connection: {**body, "connection_id": connection}
            ),
        )
