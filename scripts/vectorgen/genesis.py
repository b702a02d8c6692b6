"""Vector for the genesis hash (docs/protocol.md §10.1, node/config.py ``Genesis.hash``)."""

from __future__ import annotations

import datetime as dt
import tomllib

from node.config import Genesis
from node.provision import genesis_toml
from tests.protocol_fixtures import ORIGIN, fixed_key

VALIDATORS = [(f"node{i}", fixed_key(f"validator {i}").public_key) for i in range(4)]
GOVERNANCE = [("governance", fixed_key("governance").did)]
GENESIS_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
CONSENSUS = {"max_block_events": 500, "block_interval_ms": 100}


def generate() -> dict[str, object]:
    text = genesis_toml(ORIGIN, VALIDATORS, GOVERNANCE, genesis_time=GENESIS_TIME,
                        consensus=CONSENSUS)
    genesis = Genesis.model_validate(tomllib.loads(text))
    return {"genesis.json": {
        "description": "A genesis file and its hash: SHA-256 of msgpack ['vcledger/genesis/v1', "
                       "origin, genesis_time_ms, [[validator name, key], ...], [[governance "
                       "name, key], ...], [max_block_events, block_interval_ms, "
                       "empty_block_interval_ms, timeout_propose_ms, timeout_prevote_ms, "
                       "timeout_precommit_ms, timeout_delta_ms, max_clock_skew_ms]] with the "
                       "[consensus] defaults filled in.",
        "genesis_toml": text,
        "genesis_time_ms": genesis.genesis_time_ms,
        "validator_keys": [key.hex() for _, key in VALIDATORS],
        "governance_keys": [fixed_key("governance").public_key.hex()],
        "consensus": [genesis.consensus.max_block_events, genesis.consensus.block_interval_ms,
                      genesis.consensus.empty_block_interval_ms,
                      genesis.consensus.timeout_propose_ms, genesis.consensus.timeout_prevote_ms,
                      genesis.consensus.timeout_precommit_ms, genesis.consensus.timeout_delta_ms,
                      genesis.consensus.max_clock_skew_ms],
        "hash": genesis.hash.hex(),
    }}
