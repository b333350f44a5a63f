"""Where a run reads files from: storage providers behind one small interface.

A ``Source`` lists the files under a prefix (paged: never the whole listing in memory) and reads
one file, streaming it through SHA-256 (never the whole file in memory). ``open_source`` picks
the implementation for a connection's provider type; today S3 and Tigris (any S3-compatible
endpoint, through boto3 and the egress policy of D37). Providers the server cannot reach fail
the run with a clear message, never a crash.

Everything a provider says goes through ``SourceError``: a short code (``NoSuchKey``,
``AccessDenied``, ``EndpointUnreachable``, ...) and a message of our own wording, so that a run's
``last_error`` never repeats an endpoint's text.
"""

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError as PydanticValidationError

from app.connections.schemas import S3Config
from app.storage.egress import EgressPolicy, EgressRefusedError
from app.storage.s3 import endpoint_of, open_s3_client, s3_error_code

READ_CHUNK_BYTES = 256 * 1024
LIST_PAGE_SIZE = 1000
# Tigris's own endpoint, for a Tigris connection that names none.
TIGRIS_ENDPOINT = "https://fly.storage.tigris.dev"
UNREACHABLE_PROVIDERS = {
    "google_drive": "Google Drive",
    "sharepoint": "SharePoint",
    "snowflake": "Snowflake",
}


class SourceError(Exception):
    """A failure reading storage, as a run records it: a code and a message of our wording."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file as the listing shows it."""

    key: str
    size: int
    modified: datetime
    etag: str | None


@dataclass(frozen=True, slots=True)
class FileContent:
    """What reading a file tells: its hash and what the store says of it."""

    sha256: str
    size: int
    content_type: str
    metadata: Mapping[str, str]
    etag: str | None


class Source(Protocol):
    bucket: str

    def list_files(self, prefix: str, start_after: str | None = None) -> Iterator[SourceFile]:
        """The files under ``prefix`` in key order, after ``start_after`` when given."""
        ...

    def read(self, key: str) -> FileContent: ...

    def close(self) -> None: ...


def split_source_path(source_path: str) -> tuple[str, str]:
    """``bucket/prefix`` or ``s3://bucket/prefix`` → (bucket, prefix). A prefix names a folder:
    ``media/in`` is ``media/in/``, never ``media/in-extra/``."""
    path = source_path.strip()
    if "://" in path:
        path = path.split("://", 1)[1]
    bucket, _, prefix = path.strip("/").partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class S3Source:
    """An S3-compatible bucket, through a boto3 client pinned by the egress policy."""

    def __init__(self, client: Any, bucket: str, endpoint: str) -> None:
        self.client = client
        self.bucket = bucket
        self.endpoint = endpoint

    def _error(self, exc: Exception) -> SourceError:
        if isinstance(exc, EgressRefusedError):
            return SourceError("EgressRefused", str(exc))
        code = s3_error_code(exc)
        if code is not None:
            return SourceError(code, f"S3 answered {code} for bucket {self.bucket!r}.")
        return SourceError(
            "EndpointUnreachable",
            f"No S3-compatible store answered as expected at {self.endpoint}.",
        )

    def list_files(self, prefix: str, start_after: str | None = None) -> Iterator[SourceFile]:
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {
                "Bucket": self.bucket,
                "Prefix": prefix,
                "MaxKeys": LIST_PAGE_SIZE,
            }
            if token:
                arguments["ContinuationToken"] = token
            elif start_after:
                arguments["StartAfter"] = start_after
            try:
                page = self.client.list_objects_v2(**arguments)
            except Exception as exc:  # any failure of the listing fails the run, with a code
                raise self._error(exc) from None
            for item in page.get("Contents", ()):
                key: str = item["Key"]
                if key.endswith("/"):  # a folder marker, not a file
                    continue
                modified: datetime = item["LastModified"]
                yield SourceFile(
                    key=key,
                    size=int(item.get("Size", 0)),
                    modified=modified.astimezone(UTC),
                    etag=item.get("ETag"),
                )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def read(self, key: str) -> FileContent:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
            digest = hashlib.sha256()
            size = 0
            body = answer["Body"]
            try:
                for chunk in body.iter_chunks(READ_CHUNK_BYTES):
                    digest.update(chunk)
                    size += len(chunk)
            finally:
                body.close()
        except Exception as exc:  # recorded on the file's dead letter, never a crash
            raise self._error(exc) from None
        return FileContent(
            sha256=digest.hexdigest(),
            size=size,
            content_type=answer.get("ContentType") or "application/octet-stream",
            metadata={
                name.lower(): value for name, value in (answer.get("Metadata") or {}).items()
            },
            etag=answer.get("ETag"),
        )

    def close(self) -> None:
        self.client.close()


def open_source(
    provider_type: str,
    provider_config: Mapping[str, Any],
    source_path: str,
    *,
    policy: EgressPolicy,
    concurrency: int,
    timeout_seconds: float,
) -> tuple[Source, str]:
    """The source for a connection and the prefix to list; ``SourceError`` when it cannot be."""
    if provider_type in UNREACHABLE_PROVIDERS:
        name = UNREACHABLE_PROVIDERS[provider_type]
        raise SourceError(
            "ProviderUnsupported",
            f"mixpeek-mock cannot reach {name}: only S3-compatible connections (s3, tigris) sync.",
        )
    if provider_type not in ("s3", "tigris"):
        raise SourceError(
            "ProviderUnsupported",
            f"mixpeek-mock cannot sync {provider_type} connections: only S3-compatible"
            " connections (s3, tigris) sync.",
        )
    config = dict(provider_config)
    if provider_type == "tigris":
        config.setdefault("endpoint_url", TIGRIS_ENDPOINT)
        config.setdefault("region", "auto")
        credentials = config.get("credentials")
        if isinstance(credentials, dict):
            config["credentials"] = {"type": "access_key", **credentials}
    try:
        checked = S3Config.model_validate({**config, "provider_type": "s3"}).model_dump()
    except PydanticValidationError as exc:
        fields = sorted({".".join(str(part) for part in error["loc"]) for error in exc.errors()})
        raise SourceError(
            "InvalidConfiguration",
            f"The {provider_type} connection's configuration is invalid: {', '.join(fields)}.",
        ) from None
    if checked["credentials"]["type"] != "access_key":
        raise SourceError(
            "InvalidConfiguration",
            "IAM role credentials cannot be assumed from mixpeek-mock; use access keys.",
        )
    bucket, prefix = split_source_path(source_path)
    if not bucket:
        raise SourceError("InvalidSourcePath", "source_path names no bucket.")
    try:
        client = open_s3_client(
            checked, policy, timeout_seconds=timeout_seconds, max_connections=concurrency
        )
    except EgressRefusedError as exc:
        raise SourceError("EgressRefused", str(exc)) from None
    except ValueError:
        raise SourceError(
            "InvalidConfiguration",
            "The S3 configuration is invalid (check endpoint_url and region).",
        ) from None
    return S3Source(client, bucket, endpoint_of(checked).shown), prefix
