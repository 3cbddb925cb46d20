"""Faust settings shared by the product's app and the broker conformance tests.

Timeouts from ../shared/DESIGN.md: fast group joins and take-over on both the embedded broker
and Kafka; no topic declaration on the embedded broker (it has no controller).
"""

from __future__ import annotations

from typing import Any

from groundswell.settings import Settings
from streams.partitioner import KeyPartitioner


def faust_settings(settings: Settings, bootstrap: str) -> dict[str, Any]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "broker": f"kafka://{bootstrap}",
        "store": "memory://",
        # Faust's default is "{appid}-data" in the working directory; it creates only the last
        # folder (the parent is made below)
        "datadir": str(settings.data_dir / "{conf.name}-faust"),
        # every record is bytes we encode ourselves; Faust's JSON default would also be used to
        # decode changelogs on recovery, whatever a table's schema says (measured)
        "key_serializer": "raw",
        "value_serializer": "raw",
        "topic_partitions": settings.partitions,
        # the embedded broker has no controller: topics are created on first use
        "topic_allow_declare": not settings.embedded_broker,
        "topic_replication_factor": 1,
        "broker_rebalance_timeout": 10,
        "broker_session_timeout": 10,
        "broker_heartbeat_interval": 1,
        "consumer_auto_offset_reset": "earliest",
        "producer_linger": 0.005,
        # Kafka's default partition for each key, from a faster murmur2 than aiokafka's
        "producer_partitioner": KeyPartitioner(),
        "stream_buffer_maxsize": 8192,
        "broker_commit_every": 2000,
        "broker_commit_interval": settings.commit_interval_seconds,
        "web_enabled": False,
        "table_cleanup_interval": 60.0,
    }
