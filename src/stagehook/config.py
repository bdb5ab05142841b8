"""All settings in one pydantic-settings class (env prefix ``STAGEHOOK_``)."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Seconds between attempts: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_BODY_BYTES = 1024 * 1024


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def media_origin(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL, as a CSP source and for comparisons."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) origin")
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1].lower()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STAGEHOOK_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("stagehook")))
    database_url: str | None = None
    bootstrap_api_key: str | None = None

    event_source: str = "stagehook"
    deployment: str = "default"
    egress_cidrs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    egress_source_address: str | None = None
    egress_proxy: str | None = None
    allowed_target_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)

    retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE)
    )
    retry_jitter: float = 0.2
    connect_timeout: float = 5.0
    request_timeout: float = 15.0
    lease_seconds: float = 60.0
    max_in_flight: int = 64
    #: One receiver URL keeps up only if this >= events/s x its round trip: 8 capped a
    #: receiver 50 ms away at 160 events/s, and in ``serve`` at 90 % of the submit
    #: capacity (a round trip stretched by the shared interpreter) it let deliveries fall
    #: seconds behind (docs/benchmarks.md, goal 3). Half the global cap: a slow receiver
    #: still leaves the other half to the rest.
    max_in_flight_per_url: int = 32
    claim_batch: int = 100
    poll_interval: float = 5.0
    circuit_failure_threshold: int = 5
    circuit_probe_interval: float = 30.0
    disable_after_failing_seconds: float = 5 * 24 * 3600
    retention_days: float = 30.0
    secret_rotation_grace_seconds: float = 24 * 3600
    shutdown_grace_seconds: float = 10.0
    #: Workers heartbeat this often; one silent for 3 beats has its leases handed back.
    heartbeat_seconds: float = 5.0
    db_pool_size: int = 10
    #: ``serve`` delivers from a ``stagehook worker`` child (True) or a thread of its own
    #: (False); unset: a child on a machine with several cores (worker.py).
    dispatcher_process: bool | None = None
    session_secret: str | None = None
    #: A browser session ends after this long without a request ...
    session_idle_timeout: float = Field(default=8 * 3600, gt=0)
    #: ... and this long after sign-in, however active.
    session_absolute_timeout: float = Field(default=7 * 24 * 3600, gt=0)
    #: Always mark the session cookie ``Secure`` (else only for https requests).
    cookie_secure: bool = False
    #: Proxies (addresses or CIDRs) whose X-Forwarded-Proto / X-Forwarded-For we believe.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: Sign-in throttle: failures allowed per username / per client address per window.
    signin_max_failures_per_user: int = Field(default=5, ge=1)
    signin_max_failures_per_address: int = Field(default=20, ge=1)
    signin_window_seconds: float = Field(default=900, gt=0)
    #: Key that encrypts webhook signing secrets at rest (urlsafe base64 of 32 bytes);
    #: unset, one is generated into ``<data_dir>/secret-key`` on first start.
    secret_key: str | None = None

    #: Uploaded images live here, content-addressed (default: ``<data_dir>/media``); a
    #: volume shared by every API host when there are several.
    media_dir: Path | None = None
    #: Largest image one upload may carry; checked while the bytes stream in.
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    #: Most files one upload request may carry.
    max_upload_files: int = Field(default=500, ge=1)
    #: Origins (``https://bucket.example.com``) the browser may load referenced images
    #: from: data units added by URI must point there, and the UI's CSP allows them.
    media_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator(
        "egress_cidrs", "allowed_target_networks", "media_origins", "trusted_proxies", mode="before"
    )
    @classmethod
    def _csv_list(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("allowed_target_networks", "trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("retry_schedule")
    @classmethod
    def _schedule_not_empty(cls, value: list[float]) -> list[float]:
        if not value or any(v < 0 for v in value):
            raise ValueError("retry schedule needs at least one non-negative number of seconds")
        return value

    @field_validator("media_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [media_origin(v) for v in value]

    @property
    def effective_media_dir(self) -> Path:
        return self.media_dir if self.media_dir is not None else self.data_dir / "media"

    @cached_property
    def effective_database_url(self) -> str:
        """SQLAlchemy URL: plain ``postgresql://`` gets the psycopg 3 driver."""
        if not self.database_url:
            return f"sqlite:///{self.data_dir / 'stagehook.db'}"
        url = self.database_url
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
