"""The one typed settings object. Built once in ``main()`` (from env vars ``GROUNDSWELL_*`` and
CLI flags) and passed down; no other module reads ``os.environ``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Topic names: the contract between the stages (README "Topics").
TOPIC_RAW = "social.raw"
TOPIC_ACTIVITY = "social.activity"
TOPIC_DEADLETTER = "social.deadletter"
TOPIC_IDENTITY = "identity.links"
TOPIC_SIGNALS = "scores.signals"  # internal: influence edges and followers, one partition (the ranker)
TOPIC_MENTIONS = "scores.mentions"  # internal: company/topic mentions keyed by author (priority)
TOPIC_INFLUENCE = "scores.influence"
TOPIC_PRIORITY = "scores.priority"
TOPIC_ALERTS = "crm.alerts"
TOPIC_IDENTITY_COMMANDS = "identity.commands"  # internal: one partition, one identity resolver
TOPIC_TOPIC_VOLUME = "alerts.topic-volume"  # internal: mentions per (topic, minute), for spikes
#: what the workers' consumer group reads (the others are outputs for downstream consumers)
CONSUMED_TOPICS = (
    TOPIC_RAW,
    TOPIC_ACTIVITY,
    TOPIC_IDENTITY_COMMANDS,
    TOPIC_SIGNALS,
    TOPIC_MENTIONS,
    TOPIC_PRIORITY,
    TOPIC_TOPIC_VOLUME,
)
ALL_TOPICS = (
    TOPIC_RAW,
    TOPIC_ACTIVITY,
    TOPIC_DEADLETTER,
    TOPIC_IDENTITY,
    TOPIC_SIGNALS,
    TOPIC_MENTIONS,
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
    #: social.activity batch records the graph stage takes at once (or what ``graph_batch_seconds``
    #: brought), written in ``graph_batch_size`` chunks and acknowledged together. At paced rates a
    #: record holds a few activities, so a take of 8 made small transactions: 32 ran 299-300 raw
    #: events/s where 8 ran 286-291 (asked for 300), and 599-698/s flat out against 478-571
    #: (benchmarks/RESULTS.md)
    graph_take_records: int = Field(default=32, ge=1)
    #: the longest the normalize stage gathers raw events into one batch (one signal record, one
    #: activity record per partition); each event waits up to this long before any later stage sees
    #: it. Shorter makes more, smaller records: at 20 ms the graph stage, then taking 8 records at a
    #: time, fell behind on a busy machine (graph p50 10 s at 150 events/s, benchmarks/RESULTS.md)
    normalize_batch_seconds: float = Field(default=0.05, gt=0.0)
    #: how often a worker commits the offsets it has processed. Sources that pause on the consumers'
    #: lag (replay, simulate: ``streams.produce``) see the committed offsets, so up to this long of
    #: records counts as lag even when the workers keep up: at 1 s (Faust's usual), a second of a
    #: batch topic's records at 300 events/s was already near its pause limit (benchmarks/RESULTS.md)
    commit_interval_seconds: float = Field(default=0.25, gt=0.0)
    #: the longest a consumer's fetch waits at the broker for records. librdkafka's mock cluster
    #: (the embedded broker) answers a fetch only when this expires, never when records arrive
    #: (measured: p50 797 ms at Faust's hard-coded 1,500 ms, 24 ms at 50 ms), so every consumer
    #: hop of the pipeline waited it; Kafka answers as soon as records arrive, where a short wait
    #: only means more idle fetches (50 a second a consumer at 20 ms)
    consumer_fetch_max_wait_ms: int = 20

    # --- processes ----------------------------------------------------------------------------
    #: which stages a worker runs (streams.app): "ingest" (normalize, graph, identity intake),
    #: "scoring" (ranking, priority, alerts, the identity resolver; consumer group app_id-scoring),
    #: or "all" of them in one process. A Python process runs its stages on one core (the GIL):
    #: ingest and scoring workers use two. Do not mix "all" with the others in one deployment.
    worker_role: Literal["all", "ingest", "scoring"] = "all"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    worker_metrics_port: int = 9108
    source_metrics_port: int = 9110
    #: set by `groundswell up` for the processes it starts: each stops once that process is no
    #: longer its parent (groundswell.parent_watch); 0 for a process not started by `up`
    supervisor_pid: int = Field(default=0, ge=0)

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
    #: ... and its author's composite influence (scoring.composite, in [0, 1)) is at least this
    alert_influence_min: float = 0.3

    # --- alerts (docs/alerts.md) ---------------------------------------------------------------
    #: JSON list of threshold rules replacing the defaults (alerts.rules.ThresholdRule.from_dict)
    alert_rules: str = ""
    alert_priority_min: float = 0.8  # default rule "high-priority"
    alert_intent_confidence_min: float = 0.6  # default intent rules (complaint, churn risk, purchase)
    alert_cooldown_s: float = 1800.0  # per (person or account, topic), in event time
    alert_escalation_delta: float = 0.2  # a post this much more urgent breaks through a cooldown
    spike_k: float = 3.0  # spike when last hour > baseline mean + k * std
    spike_min_baseline_hours: int = 24  # hours of history a topic needs before it can spike
    spike_min_count: int = 10  # and at least this many mentions in the last hour
    webhook_max_attempts: int = 5  # then the delivery is dead-lettered (crm.alerts.deadletter)
    webhook_backoff_base_s: float = 0.5
    webhook_backoff_max_s: float = 30.0
    webhook_timeout_s: float = 5.0
    webhook_concurrency: int = 32
    #: deliver to private, loopback, link-local ... addresses (off: SSRF guard)
    allow_private_webhooks: bool = False
    #: CIDRs allowed even though private (e.g. an internal CRM at 10.1.2.3/32)
    webhook_allowed_networks: tuple[str, ...] = ()
    sse_queue_size: int = 2048  # per client (2 s at 1,000 alerts/s); a client this far behind is dropped
    sse_buffer_size: int = 1000  # recent alerts kept for Last-Event-ID resume
    sse_heartbeat_s: float = 15.0
    alerts_dispatcher: bool = True  # the API process delivers crm.alerts to webhooks and SSE

    # --- API access and graph queries (api/auth.py, graph/queries.py) --------------------------
    #: admin API key accepted from the first start (stored hashed); empty: one is generated at the
    #: API's first start, printed once and written to data_dir/api-admin.key (mode 0600)
    api_admin_key: SecretStr = SecretStr("")
    #: an ops key (health and metrics), e.g. Prometheus's bearer token; empty: none
    api_ops_key: SecretStr = SecretStr("")
    cypher_timeout_s: float = 10.0  # read-only Cypher: the deadline of one query
    cypher_row_limit: int = 1000  # read-only Cypher: rows returned at most
    ego_default_cap: int = 200  # nodes in an ego network unless the request asks fewer / more
    #: an account drawn and listed as an "influencer" from this current engagement (decayed,
    #: kind-weighted interactions received: scoring.influence units)
    influencer_min_engagement: float = 3.0

    # --- priority -----------------------------------------------------------------------------
    #: topics besides the company, each "name:keyword,keyword,#hashtag,@handle" (case-insensitive);
    #: a post touching one is scored like a company mention and carries the topic's name
    priority_topics: tuple[str, ...] = ()
    #: relative weights of the priority's signals (scaled to sum to 1; scoring/priority_model.py)
    priority_weight_negativity: float = 0.30
    priority_weight_intent: float = 0.25
    priority_weight_influence: float = 0.20
    priority_weight_customer_value: float = 0.15
    priority_weight_velocity: float = 0.10
    #: composite influence (in [0, 1)) at which the author's influence gives half its weight
    priority_influence_scale: float = 0.2
    #: customer value (CRM currency) at which that signal gives half its weight
    priority_customer_value_scale: float = 10_000.0
    #: mentions/hour of a topic at which velocity gives half its weight, over this sliding window
    priority_velocity_scale: float = 5.0
    priority_velocity_window_minutes: float = 60.0
    #: a post's priority loses half of what age can take after this many hours; it keeps the floor
    priority_recency_half_life_hours: float = 6.0
    priority_recency_floor: float = 0.5
    #: classify mentions' intent (complaint, purchase intent, churn risk, question) by embedding
    #: similarity; costs model time per signal batch
    intent_enabled: bool = True

    # --- influence engine (scoring/influence_engine.py) ---------------------------------------
    #: PageRank damping and relative accuracy of every account's rank (residual push threshold)
    influence_pagerank_alpha: float = 0.85
    influence_pagerank_tol: float = 1e-3
    #: a composite moving less than this is not reported again
    influence_change_tolerance: float = 1e-3
    #: how often the latest reported composite of each account is written to its graph node (the
    #: live ones go to scores.influence at once); each write is one transaction holding the graph
    #: store's write lock. 5 s rather than 1 s: source-to-alert p95 at 1,000 events/s went down by
    #: ~15-30 % in two side-by-side pairs (benchmarks/RESULTS.md)
    influence_graph_write_seconds: float = Field(default=5.0, gt=0.0)
    #: the ranker reports the composites a signal record moved as soon as it has applied it, when
    #: its last report is at least this old; what is left goes out on its 100 ms tick
    #: (``streams.ranking.FLUSH_S``). At least ``FLUSH_S``: on the tick only (event->influence p50
    #: 150 ms at 150 events/s here; 20 ms: p50 100 ms, p99 no worse, benchmarks/RESULTS.md)
    influence_report_gap_seconds: float = Field(default=0.02, ge=0.0)
    #: the ranker snapshots its engine at most this often (less often when a snapshot takes longer:
    #: ``streams.ranking.SNAPSHOT_COST_FACTOR``), and once more when it stops; what it applies in
    #: between is journalled, so this trades restart time (the journal to replay) for snapshot CPU
    influence_snapshot_seconds: float = Field(default=10.0, gt=0.0)
    #: core-number work per batch in ms; the rest waits for InfluenceEngine.maintain, called when
    #: idle (one insert can take tens of ms next to hubs); negative: all of it inside each batch
    influence_kcore_budget_ms: float = 0.0
    #: edge keys the engine remembers to skip duplicates (the latest; ~100 bytes each, and every
    #: snapshot carries them)
    influence_applied_window: int = Field(default=1_000_000, ge=1)
    #: shares of the composite (must sum to 1) and the raw value giving each half its share
    influence_weight_pagerank: float = 0.40
    influence_weight_reach: float = 0.20
    influence_weight_engagement: float = 0.25
    influence_weight_kcore: float = 0.15
    influence_half_pagerank_ratio: float = 10.0
    influence_half_followers: float = 1_000.0
    influence_half_engagement: float = 20.0
    influence_half_kcore: float = 5.0

    # --- the embedding model (embedding/encoder.py) ------------------------------------------
    #: "auto": bf16 where the CPU has bf16 units (AMX, AVX512-BF16; x3.2 measured), else fp32
    embedding_precision: Literal["auto", "fp32", "bf16"] = "auto"

    # --- identity matching (identity/matcher.py) ---------------------------------------------
    #: match probability at which two profiles merge automatically / go to human review
    identity_merge_threshold: float = 0.9
    identity_review_threshold: float = 0.5

    #: resolver backlog (commands) at which new or changed profiles wait for their account's next
    #: activity (streams.identity_agent.IdentityIntake): keeps identity.commands far below the
    #: embedded broker's ~5 MB per partition (about 6,000 commands of ~800 bytes)
    identity_max_backlog: int = 2000
    #: identity decisions a second at most (0: no limit): each is a graph transaction of ~12
    #: statements, and the stream's graph writes share the store (streams.identity_agent.Pace)
    identity_max_decisions_per_s: float = 40.0
    #: consecutive decisions the resolver makes in one graph transaction (1: one each). More: the
    #: resolver keeps up with more new accounts (16: 4x at 1,000 raw events/s, measured), but the
    #: model's time comes out of the cores the firehose needs (the pipeline fell to 2/3, alert p95
    #: 2x); groups of 16 paced at 10/s resolved 2.5x the default at a cost two runs each could not
    #: tell from noise; see streams.identity_agent and benchmarks/RESULTS.md
    identity_resolve_group: int = Field(default=1, ge=1)
    #: while the worker's stream stages have had no input for ``identity_quiet_seconds``,
    #: the resolver decides in groups of ``identity_quiet_group`` without the pace above: nothing
    #: waits for the cores or the store then, and a backlog (a cold start, the demo sample)
    #: resolves faster (1.7x on `up`'s sample; streams.identity_commands.resolver_mode)
    identity_quiet_group: int = Field(default=16, ge=1)
    identity_quiet_seconds: float = Field(default=1.0, gt=0.0)
    #: how much nicer (lower CPU priority) the streaming resolver's model thread runs than the
    #: stream: on a busy machine alerts and influence go first and the backlog takes what is left,
    #: on an idle one it takes all it needs (groundswell.background); 0: the same priority
    identity_resolver_niceness: int = Field(default=10, ge=0, le=19)

    # --- identity candidate search (identity/ann.py, identity/candidates.py) -------------------
    identity_ann_nprobe: int = 16  # IVF lists probed per search (recall@10 0.997 at 1M, measured)
    identity_candidates_max_block: int = 200  # blocking keys shared by more records are ignored

    # --- the process -----------------------------------------------------------------------------
    #: workers and the API move their long-lived objects (the model, the influence engine, the
    #: libraries) out of Python's cyclic garbage collector's way after each large load, so a full
    #: collection no longer stops them for ~0.25 s (groundswell.heap; benchmarks/RESULTS.md)
    gc_freeze: bool = True
    #: a model call a stage hands to a thread that has not finished after this long is logged with
    #: every thread's stack and counted in groundswell_stalls_total (groundswell.stalls); it is still
    #: waited for
    stall_warning_seconds: float = Field(default=30.0, gt=0.0)
    #: the scoring worker's memories per author (recent mention ids) and per alert subject
    #: (cooldowns, decided ids), and the ingest worker's per account (the profile field hashes sent
    #: for resolution), not written for this long are deleted (streams.retention): they would
    #: otherwise grow with every author who ever mentioned the company, every account ever seen. A
    #: replay of older mentions is scored, and may alert, again; an account silent that long is
    #: resolved again when it comes back (an active one's entry is kept: rewritten each half-retention)
    state_retention_seconds: float = Field(default=30 * 86400.0, gt=0.0)
    #: how often the workers look for such entries
    state_sweep_seconds: float = Field(default=600.0, gt=0.0)

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
    def scoring_app_id(self) -> str:
        """The consumer group (and Faust app id) of "scoring" workers."""
        return self.app_id + "-scoring"

    @property
    def worker_app_id(self) -> str:
        """The consumer group this worker joins, by its role."""
        return self.scoring_app_id if self.worker_role == "scoring" else self.app_id

    @property
    def consumer_groups(self) -> tuple[str, ...]:
        """Every group the pipeline's workers may consume in (lag probes look at each)."""
        return (self.app_id, self.scoring_app_id)

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
