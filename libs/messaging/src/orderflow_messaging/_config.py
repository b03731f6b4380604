"""Options objects: services build them from settings; the library never reads the environment."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class SqsClientOptions:
    """How to reach SQS.

    region: AWS region (default "us-east-1").
    endpoint_url: an SQS-compatible engine (moto, LocalStack, fauxqs); None means real AWS.
    session_token: with temporary credentials (STS, SSO), their session token (default None).
    access_key_id / secret_access_key: static credentials; None lets botocore's default chain
        (environment, profile, instance role) find them, which is what production should use.
    max_pool_connections: HTTP connections kept open to the endpoint (default 20).
    """

    region: str = "us-east-1"
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    max_pool_connections: int = 20
