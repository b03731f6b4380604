"""`orderflow token`: a local HS256 token that order-service (AUTH_MODE=jwt) accepts."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from order_service.auth import secret_verifier
from orderflow_cli.main import main
from orderflow_cli.token import parse_ttl

SECRET = "cli-test-secret-0123456789-abcdefghijklmn"
AUTH_VARIABLES = (
    "AUTH_MODE",
    "JWT_JWKS_URL",
    "JWT_SECRET",
    "JWT_SECRET_FILE",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_LEEWAY_S",
    "JWT_JWKS_CACHE_S",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no developer's .env


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    code = exited.value.code
    assert isinstance(code, int)
    return code, out, err


async def test_the_token_is_accepted_by_the_services_verifier(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("JWT_ISSUER", "https://local.test")
    monkeypatch.setenv("JWT_AUDIENCE", "orderflow-api")

    code, out, err = run(
        ["token", "--user", "alice", "--scope", "orders:admin", "--scope", "a b", "--ttl", "30m"],
        capsys,
    )

    assert (code, err) == (0, "")
    token = out.strip()
    assert out == token + "\n"  # only the token: TOKEN="$(orderflow token ...)" works
    verifier = secret_verifier(
        SECRET, issuer="https://local.test", audience="orderflow-api", leeway_s=0
    )
    principal = await verifier.verify(token)
    assert principal.subject == "alice"
    assert principal.scopes == {"orders:admin", "a", "b"}
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="orderflow-api")
    assert 1790 <= claims["exp"] - time.time() <= 1800
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_the_secret_may_come_from_a_mounted_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_file = tmp_path / "jwt_secret"
    secret_file.write_text(SECRET + "\n")
    monkeypatch.setenv("JWT_SECRET_FILE", str(secret_file))

    code, out, _ = run(["token", "--user", "bob"], capsys)

    assert code == 0
    claims = jwt.decode(out.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "bob"
    assert "scope" not in claims
    assert "aud" not in claims


def test_without_a_secret_it_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["token", "--user", "alice"], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("orderflow: error: no JWT secret: set JWT_SECRET")
    assert err.count("\n") == 1


def test_a_short_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_SECRET", "tiny-s3cr3t")
    code, _, err = run(["token", "--user", "alice"], capsys)
    assert code == 1
    assert "at least 32 bytes" in err
    assert "tiny-s3cr3t" not in err  # the secret is never echoed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["token"], "the following arguments are required: --user"),
        (["token", "--user", "a", "--ttl", "soon"], "not a duration: 'soon'"),
        (["token", "--user", "a", "--ttl", "8d"], "between 1 s and 7 days"),
        (["token", "--user", "a", "--ttl", "0"], "between 1 s and 7 days"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    assert message in err


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("7d", 604_800)]
)
def test_lifetimes_are_read_in_seconds_minutes_hours_or_days(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds
