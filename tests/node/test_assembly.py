"""node/assembly.py: the tests-only clock knob is read strictly and said out loud."""

from __future__ import annotations

import logging
import time

import pytest

from node.assembly import TEST_CLOCK_OFFSET_VARIABLE, wall_clock_from_environment
from node.errors import ConfigError


def test_no_knob_is_the_plain_wall_clock() -> None:
    assert wall_clock_from_environment({}) is time.time


def test_the_knob_shifts_the_clock_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vcledger.node"):
        clock = wall_clock_from_environment({TEST_CLOCK_OFFSET_VARIABLE: "-90.5"})
    before = time.time()
    shifted = clock()
    after = time.time()
    assert before - 90.5 <= shifted <= after - 90.5
    assert TEST_CLOCK_OFFSET_VARIABLE in caplog.text and "tests only" in caplog.text


@pytest.mark.parametrize("raw", ["", "soon", "nan", "inf", "-inf", "1e999"])
def test_a_bad_knob_is_a_config_error(raw: str) -> None:
    with pytest.raises(ConfigError, match=TEST_CLOCK_OFFSET_VARIABLE):
        wall_clock_from_environment({TEST_CLOCK_OFFSET_VARIABLE: raw})
