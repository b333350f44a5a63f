"""The pytest plugin (registered through the ``pytest11`` entry point: installing mixpeek-mock
is enough).

- ``mixpeek_mock``: a ``MixpeekMock`` handle (app/testkit/handle.py) on a server reset before
  each test: no records but each organization's empty ``default`` namespace, no journal, no
  fault rules, the clock in real time;
- ``mixpeek_mock_server``: the same handle for the whole session, without the reset.

The server is started once per session (once per xdist worker) in this process, on a free
loopback port, with a database in a temporary folder, unless ``--mixpeek-mock-url`` (or
``MIXPEEK_MOCK_URL``) names one already running, with its key and admin token
(``--mixpeek-mock-api-key``/``MIXPEEK_MOCK_API_KEY``, ``--mixpeek-mock-admin-token``/
``MIXPEEK_MOCK_ADMIN_TOKEN``). Every test resets that server: do not share one between suites
that run at the same time.
"""

import os
from collections.abc import Iterator

import pytest

from app.testkit.handle import DEFAULT_NAMESPACE, MixpeekMock

_OPTIONS = (
    ("--mixpeek-mock-url", "MIXPEEK_MOCK_URL", "a running server to use instead of starting one"),
    ("--mixpeek-mock-api-key", "MIXPEEK_MOCK_API_KEY", "that server's API key"),
    ("--mixpeek-mock-admin-token", "MIXPEEK_MOCK_ADMIN_TOKEN", "that server's admin token"),
    ("--mixpeek-mock-namespace", "MIXPEEK_MOCK_NAMESPACE", "the namespace tests use"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mixpeek-mock", "a mixpeek-mock server for the tests")
    for flag, variable, description in _OPTIONS:
        group.addoption(flag, default=None, help=f"{description} (or {variable})")


def pytest_configure(config: pytest.Config) -> None:
    """A server to attach to needs its credentials: say so before any test runs."""
    if _option(config, "--mixpeek-mock-url") is not None and not (
        _option(config, "--mixpeek-mock-api-key") and _option(config, "--mixpeek-mock-admin-token")
    ):
        raise pytest.UsageError(
            "--mixpeek-mock-url needs --mixpeek-mock-api-key and --mixpeek-mock-admin-token"
            " (or MIXPEEK_MOCK_API_KEY and MIXPEEK_MOCK_ADMIN_TOKEN)"
        )


def _option(config: pytest.Config, flag: str) -> str | None:
    variable = next(variable for name, variable, _ in _OPTIONS if name == flag)
    value: str | None = config.getoption(flag) or os.environ.get(variable) or None
    return value


@pytest.fixture(scope="session")
def mixpeek_mock_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MixpeekMock]:
    """The session's server: attached to ``--mixpeek-mock-url``, or started here."""
    config = request.config
    namespace = _option(config, "--mixpeek-mock-namespace") or DEFAULT_NAMESPACE
    url = _option(config, "--mixpeek-mock-url")
    if url is not None:
        api_key = _option(config, "--mixpeek-mock-api-key")
        admin_token = _option(config, "--mixpeek-mock-admin-token")
        # pytest_configure made sure both are there.
        assert api_key is not None
        assert admin_token is not None
        yield MixpeekMock.attach(url, api_key=api_key, admin_token=admin_token, namespace=namespace)
        return

    from app.testkit.embedded import EmbeddedServer

    server = EmbeddedServer(tmp_path_factory.mktemp("mixpeek-mock"))
    handle = server.start()
    handle.namespace = namespace
    try:
        yield handle
    finally:
        server.stop()


@pytest.fixture
def mixpeek_mock(mixpeek_mock_server: MixpeekMock) -> MixpeekMock:
    """The session's server, reset for this test."""
    mixpeek_mock_server.reset()
    return mixpeek_mock_server
