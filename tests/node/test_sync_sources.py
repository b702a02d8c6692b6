"""Catch-up's choice of peer: a peer that does not serve costs one time limit, not one per block."""

from __future__ import annotations

from node.catchup import SyncSources

TARPIT, BEHIND, GOOD = "http://tarpit", "http://behind", "http://good"


def catch_up(sources: SyncSources, blocks: int, serves: set[str]) -> list[str]:
    """Every fetch catch-up makes for ``blocks`` blocks, trying peers as ``_sync`` does."""
    asked = []
    for _ in range(blocks):
        for url in sources.order():
            asked.append(url)
            if url in serves:
                sources.served(url)
                break
            sources.failed(url)
        else:
            raise AssertionError("no peer served the block")
    return asked


def test_peers_are_first_tried_in_config_order_once_each() -> None:
    assert SyncSources([TARPIT, GOOD, TARPIT, BEHIND]).order() == [TARPIT, GOOD, BEHIND]


def test_a_peer_that_never_serves_is_asked_once_not_once_per_block() -> None:
    sources = SyncSources([TARPIT, BEHIND, GOOD])
    asked = catch_up(sources, 50, serves={GOOD})
    assert asked.count(TARPIT) == 1 and asked.count(BEHIND) == 1
    assert asked.count(GOOD) == 50
    assert sources.order()[0] == GOOD


def test_a_peer_that_stops_serving_gives_way_to_the_next() -> None:
    sources = SyncSources([GOOD, BEHIND])
    assert catch_up(sources, 3, serves={GOOD}) == [GOOD] * 3
    assert catch_up(sources, 2, serves={BEHIND}) == [GOOD, BEHIND, BEHIND]
    assert sources.order() == [BEHIND, GOOD]
