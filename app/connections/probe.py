"""Trying a connection before it is saved (``test_before_save``, D15).

The probe really talks to the store: for S3 and S3-compatible servers it lists the buckets the
credentials can see. It runs in a worker thread, since it waits on the network.
"""

from typing import Any

PROBE_TIMEOUT_SECONDS = 5


def probe_s3(config: dict[str, Any]) -> str | None:
    """None when the store answered; otherwise the reason it could not be used."""
    credentials = config["credentials"]
    if credentials.get("type") != "access_key":
        return "IAM role credentials cannot be assumed from mixpeek-mock; use access keys."
    # Imported here: boto3 takes a good part of a second to load, and most runs never probe.
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client(
        "s3",
        endpoint_url=config.get("endpoint_url"),
        region_name=config.get("region"),
        aws_access_key_id=credentials["access_key_id"],
        aws_secret_access_key=credentials["secret_access_key"],
        aws_session_token=credentials.get("session_token"),
        use_ssl=config.get("use_ssl", True),
        verify=config.get("verify_ssl", True),
        config=Config(
            connect_timeout=PROBE_TIMEOUT_SECONDS,
            read_timeout=PROBE_TIMEOUT_SECONDS,
            retries={"max_attempts": 1},
        ),
    )
    try:
        client.list_buckets()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return (
            f"S3 refused the credentials: {error.get('Code', 'error')}: {error.get('Message', '')}"
        )
    except BotoCoreError as exc:
        return f"Could not reach the S3 endpoint: {exc}"
    except ValueError as exc:  # e.g. a malformed endpoint_url
        return f"Invalid S3 configuration: {exc}"
    return None


def probe_connection(provider_type: str, config: dict[str, Any]) -> str | None:
    if provider_type == "s3":
        return probe_s3(config)
    return (
        f"mixpeek-mock cannot test {provider_type} connections: "
        "send test_before_save: false to store it without a test."
    )
