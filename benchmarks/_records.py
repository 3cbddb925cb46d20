"""Real profiles (``benchmarks._real_profiles``) as the identity records the matcher reads."""

from __future__ import annotations

from benchmarks._real_profiles import RealProfile
from identity.records import ProfileRecord


def to_record(p: RealProfile) -> ProfileRecord:
    return ProfileRecord(
        record_id=p.account_id,
        source=p.network,
        display_name=p.display_name,
        handle=p.handle,
        websites=p.websites,
        links=p.links,
        bio=p.bio,
        location=p.location,
    )
