"""MQTT topics: one versioned root, one subtree per site, no wildcards smuggled in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import MessageError, ProtocolError
from protocols.topics import DEFAULT_ROOT, SiteChannel, Topics, check_site_id

from .strategies import site_ids

TOPICS = Topics()


def test_the_documented_topics() -> None:
    assert TOPICS.site("L0001", SiteChannel.EVENTS) == "lockernet/v1/sites/L0001/events"
    assert TOPICS.site("L0001", SiteChannel.STATUS) == "lockernet/v1/sites/L0001/status"
    assert TOPICS.central_status() == "lockernet/v1/central/status"
    assert TOPICS.all_sites(SiteChannel.EVENTS) == "lockernet/v1/sites/+/events"
    assert TOPICS.shared_events() == "$share/central/lockernet/v1/sites/+/events"
    assert Topics(root="test/x/v1").site("P-7", SiteChannel.REPLIES) == (
        "test/x/v1/sites/P-7/replies"
    )


@settings(deadline=None, max_examples=500)
@given(site_ids, st.sampled_from(SiteChannel), st.sampled_from([DEFAULT_ROOT, "t/0a1b/v1"]))
def test_build_then_parse_round_trips(site: str, channel: SiteChannel, root: str) -> None:
    topics = Topics(root=root)
    assert topics.parse_site_topic(topics.site(site, channel)) == (site, channel)


@pytest.mark.parametrize(
    "site", ["+", "#", "L0001/#", "L0001/+", "a/b", "", "-L1", "L1\n", "L 1", "$SYS", "L" * 33]
)
def test_site_ids_with_wildcards_or_separators_are_refused(site: str) -> None:
    with pytest.raises(MessageError, match="site id"):
        check_site_id(site)
    with pytest.raises(MessageError):
        TOPICS.site(site, SiteChannel.COMMANDS)


@pytest.mark.parametrize(
    "topic",
    [
        "lockernet/v1/sites/+/events",  # a filter, not a topic
        "lockernet/v1/sites/#",
        "lockernet/v1/sites/L0001/events/extra",
        "lockernet/v1/sites/L0001",
        "lockernet/v1/sites/L0001/telemetry",  # no such channel
        "lockernet/v2/sites/L0001/events",  # another root
        "lockernet/v1/central/status",
        "",
    ],
)
def test_parsing_anything_but_a_site_topic_raises_message_error(topic: str) -> None:
    with pytest.raises(MessageError):
        TOPICS.parse_site_topic(topic)


@settings(deadline=None, max_examples=2000)
@given(st.text(max_size=60) | st.text(max_size=20).map(lambda t: f"lockernet/v1/sites/{t}"))
def test_arbitrary_topics_parse_or_raise_message_error(topic: str) -> None:
    try:
        site, channel = TOPICS.parse_site_topic(topic)
    except ProtocolError as exc:
        assert isinstance(exc, MessageError)
    else:
        assert TOPICS.site(site, channel) == topic
        assert not {"+", "#", "\n"} & set(site)
