"""The one place that builds boto3 clients and resources, all with the same retry and timeout config.

Endpoints are never chosen here: boto3 reads them from configuration (`AWS_ENDPOINT_URL`,
`AWS_ENDPOINT_URL_<SERVICE>`, the shared config file), so the code path is the same on AWS and on
the local stack (see `ecomflow.local.localstack.apply_environment`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

# Adaptive mode adds client-side rate limiting on top of exponential backoff, which is what the
# throttling-prone calls (Kinesis put_records, DynamoDB batch_write_item) need.
RETRY_CONFIG = Config(
    retries={"mode": "adaptive", "total_max_attempts": 10},  # first call + 9 retries
    connect_timeout=5,
    read_timeout=60,
    tcp_keepalive=True,
    user_agent_extra="ecomflow",
)


def default_region() -> str | None:
    """The region from `AWS_REGION` or `AWS_DEFAULT_REGION`; None lets boto3 resolve it (config file).

    There is no fallback region: Glue, Lambda and the local stack all set one, and a job that
    guessed `us-east-1` elsewhere would write to the wrong region's stream and tables.
    """
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def _session(region: str | None) -> boto3.session.Session:
    # A new session per client: the default session caches credentials and settings resolved from
    # the environment at first use, which would pin a client to a stack that has since changed.
    return boto3.session.Session(region_name=region or default_region())


# What a client depends on besides its service and region: a changed value builds a new client.
_CLIENT_ENVIRONMENT = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                       "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def _environment_key(service: str) -> tuple:
    service_endpoint = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
    return tuple(os.environ.get(name) for name in (*_CLIENT_ENVIRONMENT, service_endpoint))


def _config(config: Config | None) -> Config:
    return RETRY_CONFIG if config is None else RETRY_CONFIG.merge(config)


def client(service: str, region: str | None = None, *, config: Config | None = None) -> Any:
    """A boto3 client with the shared retry/timeout config, built once per environment.

    Building one costs ~0.1-0.2 s (session, service model, endpoint resolution), more than a
    500-record PutRecords; so clients are kept, as a Lambda keeps them across invocations, and
    rebuilt when the region, endpoint or credential settings in the environment change (boto3
    clients are thread-safe). A client with a `config` of its own is built afresh.

    Args:
        service: boto3 service name, e.g. "kinesis", "dynamodb", "glue", "sns".
        region: AWS region; defaults to `default_region()`.
        config: extra botocore settings merged over the shared config.
    """
    if config is not None:
        return _session(region).client(service, config=_config(config))
    key = (service, region or default_region(), _environment_key(service))
    with _clients_lock:
        if key not in _clients:
            _clients[key] = _session(region).client(service, config=RETRY_CONFIG)
        return _clients[key]


def resource(service: str, region: str | None = None, *, config: Config | None = None) -> Any:
    """Build a boto3 resource (e.g. "dynamodb", "s3") with the shared retry/timeout config."""
    return _session(region).resource(service, config=_config(config))


# --- clients on Spark executors ----------------------------------------------------------------

_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_executor_clients: dict[ClientSettings, Any] = {}


@dataclass(frozen=True)
class ClientSettings:
    """The driver's boto3 settings for one service, to build the same client in another process.

    A Spark executor (or its Python worker) does not see the driver's `os.environ`: it was started
    with the environment of the JVM that launched it, before the driver pointed boto3 anywhere. So
    what the driver's clients resolve (region, endpoint override) is taken on the driver and
    shipped with the task. Credentials travel only with an endpoint override (the local stack and
    its dummy keys); against AWS each executor resolves its own role credentials, which refresh.
    """

    service: str
    region: str | None = None
    endpoint_url: str | None = None
    credentials: tuple[str | None, str | None, str | None] = field(default=(None, None, None), repr=False)

    @classmethod
    def from_environment(cls, service: str, region: str | None = None) -> ClientSettings:
        """The settings `client(service, region)` would use in this process."""
        endpoint = (os.environ.get("AWS_ENDPOINT_URL_" + service.upper().replace("-", "_"))
                    or os.environ.get("AWS_ENDPOINT_URL") or None)
        credentials = tuple(os.environ.get(name) for name in _CREDENTIALS) if endpoint else (None, None, None)
        return cls(service, region or default_region(), endpoint, credentials)  # type: ignore[arg-type]

    def client(self) -> Any:
        """The client these settings describe, built once per process (executors reuse Python workers)."""
        with _clients_lock:
            if self not in _executor_clients:
                key_id, secret, token = self.credentials
                session = boto3.session.Session(region_name=self.region, aws_access_key_id=key_id,
                                                aws_secret_access_key=secret, aws_session_token=token)
                _executor_clients[self] = session.client(self.service, endpoint_url=self.endpoint_url,
                                                         config=RETRY_CONFIG)
            return _executor_clients[self]
