"""The ceiling for bench/run.py: a bare Starlette app that answers the benchmarked PATCH.

It serves, on the same route as mixpeek-mock, the exact response bytes and content type that
mixpeek-mock gave to the same request (captured by run.py and passed in as a file), without
touching a database. Its throughput is the most this stack (Starlette on uvicorn with httptools
and uvloop, one worker) can do on this machine, the upper bound for our server.

Run by run.py with the project's venv python:

    python bench/ceiling_app.py --port 8123 --body-file patch.json --content-type application/json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PATCH_PATH = "/v1/buckets/{bucket_id}/syncs/{sync_config_id}"
HEALTH_PATH = "/v1/health"


def build_app(body: bytes, content_type: str) -> Starlette:
    """Return an app whose PATCH route always answers 200 with `body`."""
    headers = {"content-type": content_type}

    async def patch_sync(request: Request) -> Response:
        return Response(body, headers=headers)

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', headers={"content-type": "application/json"})

    return Starlette(
        routes=[
            Route(PATCH_PATH, patch_sync, methods=["PATCH"]),
            Route(HEALTH_PATH, health, methods=["GET"]),
        ]
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve fixed PATCH response bytes.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", type=Path, required=True, help="response body to serve")
    parser.add_argument("--content-type", required=True, help="response content type to serve")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    app = build_app(args.body_file.read_bytes(), args.content_type)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        workers=1,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
