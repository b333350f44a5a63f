"""The pytest plugin, as a user's suite meets it: pytest run on example test files (pytester),
with the plugin found through its ``pytest11`` entry point, as installing mixpeek-mock leaves it."""

from pathlib import Path

import pytest

from tests.conftest import ADMIN_TOKEN, API_KEY
from tests.server_process import ServerProcess

EXAMPLE = Path(__file__).parent.parent / "examples" / "test_with_mixpeek_mock.py"
README = Path(__file__).parent.parent / "README.md"
EXAMPLE_TESTS = 5


def test_the_example_suite_passes_against_a_server_the_plugin_starts(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_example=EXAMPLE.read_text())
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=EXAMPLE_TESTS)


def test_the_plugin_attaches_to_a_running_server(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_example=EXAMPLE.read_text())
    with ServerProcess(tmp_path / "shared.db") as server:
        result = pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            f"--mixpeek-mock-url={server.url}/v1",
            f"--mixpeek-mock-api-key={API_KEY}",
            f"--mixpeek-mock-admin-token={ADMIN_TOKEN}",
        )
    result.assert_outcomes(passed=EXAMPLE_TESTS)


def test_each_test_gets_a_reset_server_and_the_handle_knows_its_credentials(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_reset="""
        import urllib.request, json

        def _buckets(mock):
            request = urllib.request.Request(
                mock.base_url + "/v1/buckets/list", data=b"{}", method="POST",
                headers={**mock.headers(), "Content-Type": "application/json"})
            with urllib.request.urlopen(request) as answer:
                return json.loads(answer.read())["results"]

        def test_first(mixpeek_mock):
            assert mixpeek_mock.base_url.startswith("http://127.0.0.1:")
            assert not mixpeek_mock.base_url.endswith("/v1")
            assert mixpeek_mock.api_url == mixpeek_mock.base_url + "/v1"
            assert mixpeek_mock.api_key.startswith("sk_")
            assert mixpeek_mock.admin_token.startswith("mma_")
            assert mixpeek_mock.namespace == "default"
            assert mixpeek_mock.configuration().host == mixpeek_mock.base_url
            client = mixpeek_mock.client()
            client.buckets.create(bucket_name="one", bucket_schema={"properties": {}})
            mixpeek_mock.freeze("2030-01-01T00:00:00Z")
            assert len(_buckets(mixpeek_mock)) == 1

        def test_second(mixpeek_mock):
            assert _buckets(mixpeek_mock) == []
            assert mixpeek_mock.clock()["frozen"] is False
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_a_url_without_credentials_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one(mixpeek_mock):\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--mixpeek-mock-url=http://127.0.0.1:9"
    )
    result.stderr.fnmatch_lines(["*--mixpeek-mock-url needs --mixpeek-mock-api-key*"])
    assert result.ret != 0


def test_the_readme_shows_the_example_suite_as_it_is_tested() -> None:
    assert EXAMPLE.read_text() in README.read_text()
