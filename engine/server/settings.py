"""The control API's settings: where it listens, its token, its rate limit, and where it
keeps its catalog, results and agent state."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

TOKEN_ENV = "RAYTRADER_API_TOKEN"
WEBHOOK_ENV = "RAYTRADER_ALERT_WEBHOOK"


@dataclasses.dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    rate: float = 20.0          # calls a second per client, on average
    burst: float = 60.0
    catalog: str = "catalog"
    state_dir: Path = Path("runs/api")
    webhook_url: str | None = None
    parallel_backtests: int = 1
    max_upload_bytes: int = 64 * 1024 * 1024
    protect_reads: bool = False   # reads need the token too (not only state changes)

    @classmethod
    def from_env(cls, **overrides: object) -> ServerSettings:
        """Settings with the token and the webhook from the environment, then
        ``overrides``."""
        values: dict[str, object] = {
            "token": os.environ.get(TOKEN_ENV) or None,
            "webhook_url": os.environ.get(WEBHOOK_ENV) or None,
            "catalog": os.environ.get("RAYTRADER_CATALOG") or "catalog"}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


__all__ = ["TOKEN_ENV", "WEBHOOK_ENV", "ServerSettings"]
