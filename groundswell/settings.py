"""The one typed settings object. Built once in ``main()`` (from env vars ``GROUNDSWELL_*`` and
CLI flags) and passed down; no other module reads ``os.environ``."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Topic names: the contract between the stages (README "Topics").
TOPIC_RAW = "social.raw"
TOPIC_ACTIVITY = "social.activity"
TOPIC_DEADLETTER = "social.deadletter"
TOPIC_IDENTITY = "identity.links"
TOPIC_SIGNALS = "scores.signals"  # internal: activity fanned out to the accounts it concerns
TOPIC_INFLUENCE = "scores.influence"
TOPIC_PRIORITY = "scores.priority"
TOPIC_ALERTS = "crm.alerts"
ALL_TOPICS = (
    TOPIC_RAW,
    TOPIC_ACTIVITY,
    TOPIC_DEADLETTER,
    TOPIC_IDENTITY,
    TOPIC_SIGNALS,
    TOPIC_INFLUENCE,
    TOPIC_PRIORITY,
    TOPIC_ALERTS,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GROUNDSWELL_", frozen=True, extra="ignore")

    data_dir: Path = Path("var")

    # --- broker -------------------------------------------------------------------------------
    #: external Kafka; empty means the embedded broker (its address is read from data_dir)
    kafka_bootstrap_servers: str = ""
    partitions: int = 4  # the embedded broker creates every topic with 4 partitions
    app_id: str = "groundswell"

    # --- graph store --------------------------------------------------------------------------
    #: external Neo4j (bolt:// or neo4j://); empty means embedded ArcadeDB over Bolt
    graph_uri: str = ""
    graph_user: str = "root"
    graph_password: SecretStr = SecretStr("groundswell-local")
    graph_database: str = "groundswell"
    arcadedb_http_port: int = 12480
    arcadedb_bolt_port: int = 17687
    arcadedb_heap: str = "2g"
    graph_batch_size: int = 500
    graph_batch_seconds: float = 0.25

    # --- processes ----------------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    worker_metrics_port: int = 9108
    source_metrics_port: int = 9110

    # --- live source credentials (flags override; env keeps them out of `ps`) ------------------
    reddit_client_id: str = ""
    reddit_client_secret: SecretStr = SecretStr("")
    reddit_password: SecretStr = SecretStr("")
    x_bearer_token: SecretStr = SecretStr("")

    # --- domain -------------------------------------------------------------------------------
    company_id: str = "acme"
    company_name: str = "Acme"
    #: account ids (network-qualified) that are the company's own accounts
    company_accounts: tuple[str, ...] = ()
    #: words and handles that mean "this mentions the company" (case-insensitive)
    company_keywords: tuple[str, ...] = ("acme",)
    max_payload_bytes: int = 1_000_000
    influence_half_life_hours: float = 24.0 * 7
    #: alert when a post mentioning the company has VADER compound at or below this ...
    alert_sentiment_max: float = -0.3
    #: ... and its author's current influence is at least this
    alert_influence_min: float = 3.0

    # --- test / demo helpers ------------------------------------------------------------------
    log_level: str = Field(default="INFO")

    def to_env(self) -> dict[str, str]:
        """These settings as GROUNDSWELL_* variables, for a child process (secrets included)."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, tuple | list):
                value = json.dumps(list(value))
            env[f"GROUNDSWELL_{name.upper()}"] = str(value)
        return env

    @property
    def embedded_broker(self) -> bool:
        return not self.kafka_bootstrap_servers

    @property
    def embedded_graph(self) -> bool:
        return not self.graph_uri

    @property
    def broker_address_file(self) -> Path:
        return self.data_dir / "broker.address"

    @property
    def effective_graph_uri(self) -> str:
        return self.graph_uri or f"bolt://127.0.0.1:{self.arcadedb_bolt_port}"
