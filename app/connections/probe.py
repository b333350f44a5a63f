"""Trying a connection before it is saved (``test_before_save``, D15), safely (D37).

The probe really talks to the store: for S3 and S3-compatible servers it lists the buckets the
credentials can see. Because the endpoint is the caller's choice, the probe is built so that it
cannot be turned into a scanner of the networks the server can reach:

- it connects only where the egress policy allows (``app/storage/egress.py``), decided before
  any packet is sent;
- it answers one of two things: the store's S3 error code (``AccessDenied``, ...) from a fixed
  list, or one fixed phrase for everything else (closed port, silent port, a web server that is
  not S3, a redirect, a 5xx). The endpoint's own text never comes back;
- that fixed phrase comes only when the probe's wall-clock deadline has passed, so a closed
  port and a silent one take the same time;
- probes run in a small pool of their own threads, so slow probes can never take the threads
  other requests need; when the pool and its short queue are full, the answer is a 503.
"""

import asyncio
import concurrent.futures
import threading
from dataclasses import dataclass
from typing import Any

from app.errors import ServiceUnavailableError
from app.storage.egress import EgressPolicy, EgressRefusedError
from app.storage.s3 import Deadline, endpoint_of, open_s3_client, s3_error_code

MSG_IAM_ROLE = "IAM role credentials cannot be assumed from mixpeek-mock; use access keys."
MSG_INVALID_CONFIG = "the S3 configuration is invalid (check endpoint_url and region)."


@dataclass(frozen=True)
class ProbeOutcome:
    """``reason`` is None when the store answered. ``at_deadline`` asks the caller to answer
    no earlier than the deadline, so that the time taken tells nothing about the endpoint."""

    reason: str | None
    at_deadline: bool = False


def _unreachable(config: dict[str, Any], seconds: float) -> ProbeOutcome:
    endpoint = endpoint_of(config).shown
    return ProbeOutcome(
        f"no S3-compatible store answered at {endpoint} within {seconds:g} s.",
        at_deadline=True,
    )


class NotAnS3AnswerError(Exception):
    """A 200 whose body is not a bucket list: a web server, not an S3-compatible store."""


def _require_bucket_list(response_dict: dict[str, Any], **_: Any) -> None:
    if response_dict.get("status_code") == 200 and b"<ListAllMyBucketsResult" not in (
        response_dict.get("body") or b""
    ):
        raise NotAnS3AnswerError


def probe_s3(config: dict[str, Any], policy: EgressPolicy, seconds: float) -> ProbeOutcome:
    """List the buckets with the configuration's credentials, within ``seconds`` in all."""
    if config["credentials"].get("type") != "access_key":
        return ProbeOutcome(MSG_IAM_ROLE)
    deadline = Deadline(seconds)
    try:
        client = open_s3_client(config, policy, deadline=deadline, timeout_seconds=seconds)
        client.meta.events.register("before-parse.s3.ListBuckets", _require_bucket_list)
        client.list_buckets()
    except EgressRefusedError as exc:
        return ProbeOutcome(str(exc))
    except ValueError:  # a region or endpoint botocore will not build a client for
        return ProbeOutcome(MSG_INVALID_CONFIG)
    except Exception as exc:  # whatever the endpoint did, the probe answers and never crashes
        code = s3_error_code(exc)
        if code is not None:
            return ProbeOutcome(f"S3 refused the credentials: {code}.")
        return _unreachable(config, seconds)
    finally:
        deadline.cancel()
    return ProbeOutcome(None)


def probe_connection(
    provider_type: str, config: dict[str, Any], policy: EgressPolicy, seconds: float
) -> ProbeOutcome:
    if provider_type == "s3":
        return probe_s3(config, policy, seconds)
    return ProbeOutcome(
        f"mixpeek-mock cannot test {provider_type} connections: "
        "send test_before_save: false to store it without a test."
    )


class ProbePool:
    """The threads probes run in, apart from everything else, and how many may wait."""

    def __init__(self, *, policy: EgressPolicy, seconds: float, threads: int) -> None:
        self.policy = policy
        self.seconds = seconds
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="storage-probe"
        )
        # Running plus waiting: beyond it a probe is refused at once rather than queued. Taken
        # without waiting, so a thread's semaphore serves whatever loop or thread asks.
        self._slots = threading.BoundedSemaphore(threads * 4)

    async def probe(self, provider_type: str, config: dict[str, Any]) -> str | None:
        """None when the store answered; otherwise why it cannot be used."""
        if not self._slots.acquire(blocking=False):
            raise ServiceUnavailableError(
                "Too many connection tests are under way; retry shortly.",
                headers={"Retry-After": str(max(1, round(self.seconds)))},
            )
        started = asyncio.get_running_loop().time()
        try:
            future = self._executor.submit(
                probe_connection, provider_type, config, self.policy, self.seconds
            )
            outcome = await asyncio.wrap_future(future)
        finally:
            self._slots.release()
        if outcome.at_deadline:
            waited = asyncio.get_running_loop().time() - started
            await asyncio.sleep(max(0.0, self.seconds - waited))
        return outcome.reason

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
