"""The suite's engine switch: `ORDERFLOW_TEST_ENGINE` picks the engine, a marker skips with why."""

from __future__ import annotations

import httpx
import pytest

from orderflow_messaging import SqsClientOptions, open_sqs_client
from orderflow_testkit.engines import ENGINE_ENV, has_feature, missing_feature, selected_engine

pytest_plugins = ["pytester"]


def test_the_engine_is_moto_unless_the_variable_names_fauxqs() -> None:
    assert selected_engine({}) == "moto"
    assert selected_engine({ENGINE_ENV: ""}) == "moto"
    assert selected_engine({ENGINE_ENV: " FauxQS "}) == "fauxqs"
    with pytest.raises(ValueError, match="expected one of moto, fauxqs"):
        selected_engine({ENGINE_ENV: "localstack"})


def test_what_fauxqs_lacks_comes_with_the_reason_and_moto_lacks_none_of_it() -> None:
    reason = missing_feature("fauxqs", "query protocol")
    assert reason is not None
    assert reason.startswith("not on fauxqs (query protocol): ")
    assert "JSON protocol" in reason
    assert has_feature("moto", "query protocol")
    assert not has_feature("fauxqs", "FIFO group batches")


def test_a_misspelt_feature_is_refused_rather_than_never_skipping() -> None:
    with pytest.raises(ValueError, match="unknown engine feature 'query protocl'"):
        missing_feature("fauxqs", "query protocl")


async def test_the_session_endpoint_is_the_selected_engine_on_loopback(
    moto_endpoint: str, sqs_engine: str, queue_prefix: str
) -> None:
    assert moto_endpoint.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(timeout=5) as client:
        moto_api = (await client.get(f"{moto_endpoint}/moto-api/")).status_code
    assert (moto_api == 200) == (sqs_engine == "moto")
    options = SqsClientOptions(
        endpoint_url=moto_endpoint, access_key_id="test", secret_access_key="test"
    )
    async with open_sqs_client(options) as sqs:
        url = (await sqs.create_queue(QueueName=f"{queue_prefix}engine"))["QueueUrl"]
        await sqs.send_message(QueueUrl=url, MessageBody="hello")
        received = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert [m["Body"] for m in received["Messages"]] == ["hello"]


@pytest.mark.parametrize(("engine", "outcome"), [("moto", "passed"), ("fauxqs", "skipped")])
def test_the_marker_skips_only_where_the_engine_lacks_the_feature_and_says_why(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, engine: str, outcome: str
) -> None:
    monkeypatch.setenv(ENGINE_ENV, engine)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.needs_engine_feature("query protocol")
        def test_needs_it():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rs", "--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(**{outcome: 1})
    if outcome == "skipped":
        result.stdout.fnmatch_lines(["*not on fauxqs (query protocol): fauxqs speaks only*"])
