"""How fresh a checkpoint is: its time, the future-drift rule, max age in trust files, durations.

client/checkpoint.py (``VerifiedCheckpoint.time``), client/note.py
(``MAX_FUTURE_DRIFT``), client/trust.py (``max_age_seconds``) and
client/durations.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from client import checkpoint, keys, note
from client.checkpoint import MAX_FUTURE_DRIFT, checkpoint_time, verify_checkpoint
from client.durations import (
    MAX_DURATION_SECONDS,
    describe_age,
    describe_duration,
    format_duration,
    parse_duration,
    parse_max_age,
)
from client.errors import SignatureError, UsageError
from client.trust import (
    DEFAULT_MAX_AGE_SECONDS,
    TrustFileError,
    format_trust,
    load_trust,
    parse_trust,
)
from node.metrics import NodeMetrics, newest_checkpoint_time

NOW = 1_800_000_000
DAY = 86400
SEEDS = [bytes([0x40 + n] * 32) for n in range(4)]
NAMES = [f"validator-{n}.example" for n in range(4)]
VKEYS = [note.verifier_key(name, keys.public_key(seed), sig_type=note.SIG_COSIGNATURE_V1)
         for name, seed in zip(NAMES, SEEDS, strict=True)]
ORIGIN = "fresh.example/net"
BODY = checkpoint.format_checkpoint(ORIGIN, 78, bytes(range(32)))


def cosigned(*signers: tuple[int, int]) -> str:
    """The checkpoint note cosigned by validator ``i`` at time ``t`` for each ``(i, t)``."""
    return BODY + "\n" + "".join(note.cosign(BODY, NAMES[i], SEEDS[i], t) for i, t in signers)


# -- checkpoint time --------------------------------------------------------------------------


def test_a_two_of_two_checkpoint_is_as_old_as_its_older_cosignature() -> None:
    """One validator signing "now" does not make a 400-day-old checkpoint fresh."""
    text = cosigned((0, NOW - 400 * DAY), (1, NOW))
    verified = verify_checkpoint(text, ORIGIN, VKEYS[:2], 2, now=NOW)
    assert verified.time == NOW - 400 * DAY
    # Order of the lines does not matter.
    swapped = cosigned((1, NOW), (0, NOW - 400 * DAY))
    assert verify_checkpoint(swapped, ORIGIN, VKEYS[:2], 2, now=NOW).time == NOW - 400 * DAY
    # Under a 1-of-2 policy one cosignature is enough, so the newest is the time.
    assert verify_checkpoint(text, ORIGIN, VKEYS[:2], 1, now=NOW).time == NOW


def test_time_is_the_threshold_th_newest_of_distinct_validators() -> None:
    text = cosigned((0, NOW - 30), (1, NOW - 10), (2, NOW - 20), (3, NOW - 40))
    assert [verify_checkpoint(text, ORIGIN, VKEYS, k, now=NOW).time for k in (1, 2, 3, 4)] == [
        NOW - 10, NOW - 20, NOW - 30, NOW - 40]
    # One validator under two names is one validator: its second line adds no time.
    alias = "alias.example"
    alias_vkey = note.verifier_key(alias, keys.public_key(SEEDS[0]),
                                   sig_type=note.SIG_COSIGNATURE_V1)
    doubled = (cosigned((0, NOW - 500), (1, NOW - 400))
               + note.cosign(BODY, alias, SEEDS[0], NOW))
    verified = verify_checkpoint(doubled, ORIGIN, [*VKEYS[:2], alias_vkey], 2, now=NOW)
    assert len(verified.cosigners) == 2 and verified.time == NOW - 500


def test_a_cosignature_more_than_a_minute_ahead_does_not_count() -> None:
    assert MAX_FUTURE_DRIFT == 60
    late = cosigned((0, NOW - 100), (1, NOW + 61))
    # Needed for a 2-of-2 policy: the threshold is not met, and the message says why.
    with pytest.raises(SignatureError, match=r"requires 2 \(1 more dated over 60 s"):
        verify_checkpoint(late, ORIGIN, VKEYS[:2], 2, now=NOW)
    # Not needed for 1 of 2: it is ignored, and it does not make the checkpoint younger.
    verified = verify_checkpoint(late, ORIGIN, VKEYS[:2], 1, now=NOW)
    assert [c.name for c in verified.cosigners] == [NAMES[0]] and verified.time == NOW - 100
    # Without a clock nothing is judged (offline tools that do not look at freshness).
    assert verify_checkpoint(late, ORIGIN, VKEYS[:2], 2).time == NOW - 100


@pytest.mark.parametrize("ahead", [59, 60])
def test_a_cosignature_within_a_minute_ahead_counts(ahead: int) -> None:
    text = cosigned((0, NOW + ahead), (1, NOW + 1))
    verified = verify_checkpoint(text, ORIGIN, VKEYS[:2], 2, now=NOW)
    assert len(verified.cosigners) == 2 and verified.time == NOW + 1
    assert verify_checkpoint(text, ORIGIN, VKEYS[:2], 1, now=NOW).time == NOW + ahead


def test_only_future_cosignatures_fail_with_a_hint() -> None:
    with pytest.raises(SignatureError, match="dated in the future"):
        verify_checkpoint(cosigned((0, NOW + 3600)), ORIGIN, VKEYS[:1], 1, now=NOW)


@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=8), st.data())
def test_checkpoint_time_against_a_naive_reference(stamps: list[int], data: Any) -> None:
    threshold = data.draw(st.integers(1, len(stamps)))
    # The time is the latest t such that at least `threshold` signers had signed by t.
    naive = max(t for t in stamps if sum(s >= t for s in stamps) >= threshold)
    assert checkpoint_time(stamps, threshold) == naive


def test_the_time_is_not_the_newest_cosignature() -> None:
    verified = verify_checkpoint(cosigned((0, NOW - 400 * DAY), (1, NOW)), ORIGIN, VKEYS[:2], 2)
    newest = max(cosigner.timestamp for cosigner in verified.cosigners)
    assert newest == NOW and verified.time == NOW - 400 * DAY


# -- max age in the trust file ----------------------------------------------------------------


def _trust_document(**extra: Any) -> dict[str, Any]:
    return {"origin": ORIGIN, "threshold": 2,
            "validators": [{"name": n, "verifier_key": v}
                           for n, v in zip(NAMES[:3], VKEYS[:3], strict=True)], **extra}


def test_a_trust_file_without_max_age_loads_with_the_default(tmp_path: Path) -> None:
    old = tmp_path / "trust.json"
    old.write_text(json.dumps(_trust_document()))
    trust = load_trust(old)
    assert trust.max_age_seconds == DEFAULT_MAX_AGE_SECONDS == 7 * DAY
    # Writing it back names the policy, and the result reads back equal.
    written = json.loads(format_trust(trust))
    assert written["max_age_seconds"] == 7 * DAY
    assert list(written) == ["origin", "threshold", "max_age_seconds", "validators"]
    assert parse_trust(format_trust(trust)) == trust


def test_max_age_is_read_and_checked() -> None:
    trust = parse_trust(json.dumps(_trust_document(max_age_seconds=3600)))
    assert trust.max_age_seconds == 3600
    assert parse_trust(json.dumps(_trust_document(max_age_seconds=60))).max_age_seconds == 60
    for bad in (59, 0, -1, "7d", 3600.0, True, None):
        with pytest.raises(TrustFileError, match="max_age_seconds"):
            parse_trust(json.dumps(_trust_document(max_age_seconds=bad)))


# -- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800), ("1s", 1), ("36500d", 36500 * DAY),
])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds
    assert parse_max_age(text) == seconds


@pytest.mark.parametrize(("text", "hint"), [
    ("90", "add a unit"), ("7D", "lower case"), (" 7d", "remove the spaces"), ("7d\n", "spaces"),
    ("", "not a whole number"), ("1h30m", "not a whole number"), ("-1s", "not a whole number"),
    ("+1s", "not a whole number"), ("1.5h", "not a whole number"), ("2w", "not a whole number"),
    ("٣d", "not a whole number"), ("0s", "zero"), ("0d", "zero"), ("36501d", "century"),
    ("9" * 13 + "s", "not a whole number"),
])
def test_bad_durations_name_the_text(text: str, hint: str) -> None:
    with pytest.raises(UsageError, match=hint) as caught:
        parse_duration(text)
    assert repr(text)[1:-1] in caught.value.diagnostics()
    with pytest.raises(UsageError, match="or none for no age bound"):
        parse_max_age(text)


def test_none_disables_the_max_age() -> None:
    assert parse_max_age("none") is None
    assert parse_max_age("None") is None


@pytest.mark.parametrize(("seconds", "words"), [
    (0, "0 seconds"), (1, "1 second"), (45, "45 seconds"), (59, "59 seconds"),
    (60, "1 minute"), (119, "1 minute"), (3599, "59 minutes"), (3600, "1 hour"),
    (3 * 3600 + 3599, "3 hours"), (86399, "23 hours"), (86400, "1 day"), (47 * 3600, "1 day"),
    (9 * DAY + DAY - 1, "9 days"), (400 * DAY, "400 days"),
])
def test_describe_duration_rounds_down(seconds: int, words: str) -> None:
    assert describe_duration(seconds) == words


def test_describe_age_of_a_checkpoint_slightly_ahead() -> None:
    assert describe_age(-30) == "0 seconds"
    assert describe_age(9 * DAY) == "9 days"
    with pytest.raises(UsageError):
        describe_duration(-1)
    for bad in (1.5, True, "7"):
        with pytest.raises(UsageError):
            describe_duration(bad)  # type: ignore[arg-type]


@given(st.integers(1, MAX_DURATION_SECONDS))
def test_format_duration_round_trips(seconds: int) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert describe_duration(seconds).split()[0].isdigit()


# -- the node's checkpoint age metric ---------------------------------------------------------


class FakeCheckpoints:
    def __init__(self, note_text: str | None) -> None:
        self.note_text = note_text
        self.asked: list[int] = []

    def newest_with(self, min_cosignatures: int, *, search_blocks: int = 64) -> str | None:
        self.asked.append(min_cosignatures)
        return self.note_text


def test_the_checkpoint_age_gauge_uses_the_threshold_time_at_scrape_time() -> None:
    source = FakeCheckpoints(cosigned((0, NOW - 400 * DAY), (1, NOW - 10), (2, NOW)))
    assert newest_checkpoint_time(source, 2) == NOW - 10
    assert newest_checkpoint_time(source, 3) == NOW - 400 * DAY
    assert source.asked == [2, 3]
    assert newest_checkpoint_time(FakeCheckpoints(None), 2) is None

    clock = [float(NOW)]
    metrics = NodeMetrics()
    metrics.watch_checkpoint_age(lambda: newest_checkpoint_time(source, 2), lambda: clock[0])

    def scraped() -> float:
        families = text_string_to_metric_families(metrics.render().decode())
        (value,) = [s.value for f in families for s in f.samples
                    if s.name == "vcledger_checkpoint_age_seconds"]
        return float(value)

    assert scraped() == 10
    clock[0] += 3600  # no new checkpoint: the age grows without any event
    assert scraped() == 3610
    source.note_text = None
    assert math.isnan(scraped())
