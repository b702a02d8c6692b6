"""What an operator sees: /metrics families, JSON log lines, ``--version``, and the
monitoring files in configs/deploy/ (the dashboard and alert rules query only metrics that exist).

Fast tests drive :class:`node.metrics.NodeMetrics` and :mod:`node.logs` in process with
readings and events made here.  The slow ones scrape and read a real ``vcledger-node run``
process with ``VCLEDGER_LOG_FORMAT=json`` after it committed, rejected and answered 404s.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from client import cli as client_cli
from client.events import SignedEvent
from client.merkle import leaf_hash
from node import cli as node_cli
from node.errors import RuleViolation
from node.logs import (
    JsonLineFormatter,
    TextFormatter,
    configure_logging,
    log_admitted,
    log_block_committed,
    log_rejected,
    utc_timestamp,
)
from node.metrics import NodeMetrics, NodeReadings
from tests.nodeutil import (
    FAST_CONSENSUS,
    ROOT,
    TestIssuer,
    assemble_in_process,
    fixed_key,
    http_get,
    node_command,
    post_event,
    post_event_to,
    running_nodes,
    seal_block,
    wait_until,
    write_network,
)

DASHBOARD = ROOT / "configs" / "deploy" / "grafana-dashboard.json"
ALERTS = ROOT / "configs" / "deploy" / "alerts.yml"
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

#: Families every node exports from the start (dashboards and alerts rely on the names).
NODE_FAMILIES = {
    "vcledger_build_info", "vcledger_events_accepted", "vcledger_events_rejected",
    "vcledger_events_committed", "vcledger_block_height", "vcledger_tree_size",
    "vcledger_mempool_events", "vcledger_commit_latency_seconds",
    "vcledger_block_build_seconds", "vcledger_checkpoint_age_seconds",
    "vcledger_http_requests", "vcledger_http_request_duration_seconds",
    "vcledger_newest_block_age_seconds", "vcledger_checkpoint_cosignatures",
    "vcledger_database_bytes", "vcledger_peers_connected", "vcledger_peers_known",
    "vcledger_consensus_height", "vcledger_consensus_round",
    "vcledger_consensus_round_changes", "vcledger_catch_up_blocks",
    "vcledger_catch_up_failures", "vcledger_evidence_records",
    "process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds",
    "process_start_time_seconds", "python_info",
}


def samples(text: str) -> dict[str, list[Sample]]:
    """Every sample of a /metrics text, by sample name."""
    found: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(sample)
    return found


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def value(text: str, name: str, **labels: str) -> float:
    matching = [s.value for s in samples(text).get(name, [])
                if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matching) == 1, f"{name}{labels}: {len(matching)} samples"
    return matching[0]


def assert_no_created(text: str) -> None:
    created = [name for name in samples(text) if name.endswith("_created")]
    assert not created, f"_created series remain: {created}"


# -- metrics, in process ------------------------------------------------------------------


@dataclass
class FakeNode:
    now: float = 1_800_000_000.0
    block_time: float | None = None
    connected: int = 2
    known: int = 3
    position: tuple[int, int] | None = (41, 2)
    rounds_lost: int = 5
    fetched: int = 7
    fetch_failures: int = 1
    evidence: int = 0
    cosignatures: int | None = 3


def readings(node: FakeNode, data_dir: Path) -> NodeReadings:
    return NodeReadings(
        clock=lambda: node.now, data_dir=data_dir,
        newest_block_time=lambda: node.block_time,
        newest_checkpoint_time=lambda: None,
        newest_checkpoint_cosignatures=lambda: node.cosignatures,
        peers_connected=lambda: node.connected, peers_known=lambda: node.known,
        consensus_position=lambda: node.position, round_changes=lambda: node.rounds_lost,
        catch_up_blocks=lambda: node.fetched, catch_up_failures=lambda: node.fetch_failures,
        evidence_records=lambda: node.evidence)


def test_every_family_is_exported_before_the_node_is_watched() -> None:
    text = NodeMetrics().render().decode()
    assert not NODE_FAMILIES - families(text), NODE_FAMILIES - families(text)
    assert_no_created(text)
    # Unknown, not a made-up zero: an alert on age must not see a fresh node as healthy.
    assert math.isnan(value(text, "vcledger_newest_block_age_seconds"))
    assert math.isnan(value(text, "vcledger_database_bytes"))
    assert value(text, "vcledger_consensus_round_changes_total") == 0
    assert value(text, "vcledger_build_info", version=version("vcledger")) == 1


def test_readings_are_taken_at_each_scrape(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "000001.ldb").write_bytes(b"x" * 1000)
    (tmp_path / "db" / "nested").mkdir()
    (tmp_path / "db" / "nested" / "LOG").write_bytes(b"y" * 234)
    node = FakeNode()
    metrics = NodeMetrics()
    metrics.watch(readings(node, tmp_path / "db"))

    text = metrics.render().decode()
    assert math.isnan(value(text, "vcledger_newest_block_age_seconds"))
    assert value(text, "vcledger_database_bytes") == 1234
    assert value(text, "vcledger_peers_connected") == 2
    assert value(text, "vcledger_peers_known") == 3
    assert value(text, "vcledger_consensus_height") == 41
    assert value(text, "vcledger_consensus_round") == 2
    assert value(text, "vcledger_consensus_round_changes_total") == 5
    assert value(text, "vcledger_catch_up_blocks_total") == 7
    assert value(text, "vcledger_catch_up_failures_total") == 1
    assert value(text, "vcledger_evidence_records") == 0
    assert value(text, "vcledger_checkpoint_cosignatures") == 3

    # A stalled node writes nothing: its block age must still grow between scrapes.
    node.block_time = node.now - 4
    node.now += 60
    node.connected, node.rounds_lost, node.evidence = 0, 6, 1
    node.position, node.cosignatures = None, None
    text = metrics.render().decode()
    assert value(text, "vcledger_newest_block_age_seconds") == 64
    assert value(text, "vcledger_peers_connected") == 0
    assert value(text, "vcledger_consensus_round_changes_total") == 6
    assert value(text, "vcledger_evidence_records") == 1
    assert math.isnan(value(text, "vcledger_consensus_height"))
    assert math.isnan(value(text, "vcledger_checkpoint_cosignatures"))
    assert_no_created(text)


def test_database_size_of_a_missing_directory_is_zero(tmp_path: Path) -> None:
    metrics = NodeMetrics()
    metrics.watch(readings(FakeNode(), tmp_path / "never-created"))
    assert value(metrics.render().decode(), "vcledger_database_bytes") == 0


# -- log lines, in process ----------------------------------------------------------------


@pytest.fixture
def issuer() -> TestIssuer:
    return TestIssuer(fixed_key("operator view issuer"))


def capture(log_format: str, level: int = logging.DEBUG) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter() if log_format == "json" else TextFormatter())
    logger = logging.getLogger(f"vcledger.test.{log_format}.{level}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(level)
    return logger, stream


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_utc_timestamp_is_iso_8601_with_z() -> None:
    assert utc_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert utc_timestamp(1_767_225_600.5) == "2026-01-01T00:00:00.500Z"


def test_event_lines_carry_hash_and_issuer_in_json(issuer: TestIssuer) -> None:
    event = issuer.issue("json line")
    log, stream = capture("json")
    log_admitted(log, [event], from_peer=False)
    log_rejected(log, RuleViolation("unknown_issuer", "issuer is not registered"), event=event)
    log_block_committed(log, height=9, first_index=40, events=[event], dropped=0,
                        tree_size=41, elapsed_s=0.012)
    lines = json_lines(stream)
    assert [line["level"] for line in lines] == ["INFO"] * 4
    for line in lines:
        assert isinstance(line["time"], str) and UTC_TIME.match(line["time"]), line
        assert isinstance(line["message"], str) and line["message"]
    submitted, rejected, block, committed = lines
    for line in (submitted, rejected, committed):
        assert line["event_hash"] == event.hash.hex()
        assert line["issuer"] == issuer.did
        assert line["event_kind"] == "credential.issue"
    assert rejected["reason"] == "unknown_issuer"
    assert "issuer is not registered" in str(rejected["message"])
    assert (block["height"], block["tree_size"]) == (9, 41)
    assert (committed["height"], committed["index"]) == (9, 40)


def test_text_lines_show_the_same_fields(issuer: TestIssuer) -> None:
    event = issuer.issue("text line")
    log, stream = capture("text")
    log_admitted(log, [event], from_peer=False)
    line = stream.getvalue().rstrip("\n")
    assert "\n" not in line
    stamp, level, rest = line.split(" ", 2)
    assert UTC_TIME.match(stamp) and level == "INFO"
    assert f"event_hash={event.hash.hex()}" in rest
    assert f"issuer={issuer.did}" in rest


def test_idle_and_gossip_lines_stay_below_info(issuer: TestIssuer) -> None:
    event = issuer.issue("gossip")
    log, stream = capture("json", logging.INFO)
    log_block_committed(log, height=3, first_index=5, events=[], dropped=0, tree_size=5,
                        elapsed_s=0.001)
    log_admitted(log, [event], from_peer=True)
    log_rejected(log, RuleViolation("duplicate_event", "seen before"), event=event,
                 from_peer=True)
    assert stream.getvalue() == ""
    # ...but a peer's event dropped at block building concerns a client: INFO.
    log_rejected(log, RuleViolation("revoked", "already revoked"), event=event,
                 from_peer=True, at_block=True)
    log_rejected(log, RuleViolation("bad_encoding", "not an event"))
    assert [line["reason"] for line in json_lines(stream)] == ["revoked", "bad_encoding"]
    assert "event_hash" not in json_lines(stream)[1]


def test_configure_logging_replaces_handlers_and_checks_its_arguments() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        stream = io.StringIO()
        configure_logging("WARNING", "json", stream)
        logging.getLogger("vcledger.somewhere").warning("disk %s", "full")
        logging.getLogger("vcledger.somewhere").info("not shown")
        (line,) = stream.getvalue().splitlines()
        assert json.loads(line)["message"] == "disk full"
        assert json.loads(line)["logger"] == "vcledger.somewhere"
        with pytest.raises(ValueError, match="log format"):
            configure_logging("INFO", "xml", stream)
        with pytest.raises(ValueError, match="log level"):
            configure_logging("LOUD", "text", stream)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


# -- --version ------------------------------------------------------------------------------


def test_both_clis_print_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    installed = version("vcledger")
    assert client_cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vcledger {installed}"
    with pytest.raises(SystemExit) as exit_info:
        node_cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"vcledger-node {installed}"


def test_node_cli_refuses_an_unknown_log_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        node_cli.main(["run", "--config", "node.toml", "--log-format", "xml"])
    assert exit_info.value.code == 2
    assert "--log-format" in capsys.readouterr().err
    with mock.patch.dict(os.environ, {"VCLEDGER_LOG_FORMAT": "yaml"}), \
            pytest.raises(SystemExit) as exit_info:
        node_cli.main(["run", "--config", "node.toml"])
    assert exit_info.value.code == 2
    assert "VCLEDGER_LOG_FORMAT must be one of text, json" in capsys.readouterr().err


@pytest.mark.slow
def test_installed_commands_print_the_version() -> None:
    installed = version("vcledger")
    vcledger = Path(sys.executable).parent / "vcledger"
    for command, name in (([str(vcledger)], "vcledger"), (node_command(), "vcledger-node")):
        done = subprocess.run([*command, "--version"], capture_output=True, text=True,
                              timeout=60, check=False)
        assert (done.returncode, done.stdout.strip()) == (0, f"{name} {installed}")


# -- a real node --------------------------------------------------------------------------


GARBAGE_EVENT = b"\x92\x01\x02"
"""A msgpack array that is no event: the observed node rejects it with HTTP 400."""


@dataclass(frozen=True)
class Observed:
    metrics: str
    log: str
    submitted: list[SignedEvent]
    issuer: TestIssuer


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """A node that logs JSON after commits, a rejection and two 404s; its /metrics after."""
    directory = tmp_path_factory.mktemp("operator")
    files = write_network(directory, 1, consensus=FAST_CONSENSUS)
    issuer = TestIssuer(fixed_key("operator view node issuer"))
    with mock.patch.dict(os.environ, {"VCLEDGER_LOG_FORMAT": "json"}), \
            running_nodes([files.nodes[0].config], directory) as (node,):
        submitted = [issuer.register(files.governance), issuer.issue("observed")]
        for event in submitted:
            status, body = post_event(node, event.encoded)
            assert (status, body.get("status")) == (200, "committed"), body
        status, _ = post_event_to(node.url, GARBAGE_EVENT)
        assert status == 400
        assert http_get(node.url + "/v1/entries/999999")[0] == 404
        assert http_get(node.url + "/no/such/endpoint")[0] == 404
        http_get(node.url + "/metrics")
        status, body = http_get(node.url + "/metrics")
        assert status == 200
        text = body.decode()
        node.terminate()
        yield Observed(text, node.log_text(), submitted, issuer)


def node_log_lines(log: str) -> list[str]:
    """The node's own lines (nodeutil marks each start with a ``--- start N ---`` line)."""
    return [line for line in log.splitlines() if line and not line.startswith("--- start ")]


@pytest.mark.slow
def test_node_metrics_have_the_operator_families(observed: Observed) -> None:
    text = observed.metrics
    assert not NODE_FAMILIES - families(text), NODE_FAMILIES - families(text)
    assert_no_created(text)
    assert value(text, "vcledger_build_info", version=version("vcledger")) == 1
    assert value(text, "process_resident_memory_bytes") > 0
    assert value(text, "vcledger_http_requests_total", route="/v1/events", method="POST",
                 status="200") == 2
    assert value(text, "vcledger_http_requests_total", route="/v1/events", method="POST",
                 status="400") == 1
    # The template, never the path a client typed: clients cannot mint series.
    assert value(text, "vcledger_http_requests_total", route="/v1/entries/{index}",
                 method="GET", status="404") == 1
    assert value(text, "vcledger_http_requests_total", route="unmatched", method="GET",
                 status="404") == 1
    assert not [s for s in samples(text)["vcledger_http_requests_total"]
                if "999999" in s.labels["route"] or "no/such" in s.labels["route"]]
    assert value(text, "vcledger_http_request_duration_seconds_count", route="/v1/events",
                 method="POST") == 3
    assert value(text, "vcledger_events_committed_total") == 2


@pytest.mark.slow
def test_node_json_log_lines(observed: Observed) -> None:
    lines = node_log_lines(observed.log)
    assert lines, "the node logged nothing"
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert isinstance(record.get("time"), str) and UTC_TIME.match(record["time"]), line
        assert record.get("level") in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, line
        assert isinstance(record.get("message"), str), line
    assert any("serving" in json.loads(line)["message"] for line in lines)


@pytest.mark.slow
def test_node_logs_submissions_with_hash_and_issuer(observed: Observed) -> None:
    records = [json.loads(line) for line in node_log_lines(observed.log)]
    event = observed.submitted[1]
    about = [r for r in records if r.get("event_hash") == event.hash.hex()]
    assert about and all(r.get("issuer") == observed.issuer.did for r in about)
    accepted = [r for r in about if r["message"].startswith("accepted")]
    assert [r["level"] for r in accepted] == ["INFO"], about
    committed = [r for r in about if r.get("height") is not None]
    assert len(committed) == 1 and committed[0]["index"] >= 0, "no commit line"
    # Bytes that are not an event: the line names their hash and the reason, at INFO.
    garbage = leaf_hash(GARBAGE_EVENT).hex()
    rejected = [r for r in records if r.get("event_hash") == garbage]
    assert len(rejected) == 1 and rejected[0]["level"] == "INFO" and rejected[0]["reason"]
    assert rejected[0]["message"].startswith("rejected event submitted")


@pytest.mark.slow
def test_node_metrics_read_the_running_node(observed: Observed) -> None:
    text = observed.metrics
    assert value(text, "vcledger_database_bytes") > 0
    assert 0 <= value(text, "vcledger_newest_block_age_seconds") < 60
    assert value(text, "vcledger_checkpoint_cosignatures") == 1
    assert value(text, "vcledger_evidence_records") == 0
    # A single validator has no peers and runs no consensus rounds: unknown, not zero.
    for gauge in ("vcledger_peers_connected", "vcledger_consensus_round"):
        assert math.isnan(value(text, gauge)), gauge
    assert value(text, "vcledger_consensus_round_changes_total") == 0


async def test_ages_grow_while_the_node_seals_nothing(tmp_path: Path) -> None:
    """The stalled-node alert: both ages keep growing at each scrape while no block comes,
    and fall back once one is sealed."""
    now = [1_900_000_000.0]
    issuer = TestIssuer(fixed_key("ages issuer"))
    network = write_network(tmp_path / "net", 1, consensus=FAST_CONSENSUS)
    assembled = assemble_in_process(network, clock=lambda: now[0])
    service = assembled.service
    await service.start(assembled.producer)
    try:
        metrics = service.metrics
        assert math.isnan(value(metrics.render().decode(), "vcledger_newest_block_age_seconds"))
        await service.submit([issuer.register(network.governance).encoded])
        await seal_block(service)
        ages = []
        for step in (2.0, 60.0):
            now[0] += step
            text = metrics.render().decode()
            ages.append((value(text, "vcledger_newest_block_age_seconds"),
                         value(text, "vcledger_checkpoint_age_seconds")))
            assert value(text, "vcledger_checkpoint_cosignatures") == 1
        assert ages == [(2.0, 2.0), (62.0, 62.0)]
        await seal_block(service)
        text = metrics.render().decode()
        assert value(text, "vcledger_newest_block_age_seconds") == 0
        assert value(text, "vcledger_checkpoint_age_seconds") == 0
    finally:
        await service.close()


def scrape(url: str) -> str:
    status, body = http_get(url + "/metrics")
    assert status == 200
    return body.decode()


@pytest.mark.slow
def test_a_consensus_node_reports_its_peers_and_heights(tmp_path: Path) -> None:
    """In a 4-validator network every node sees its 3 peers and says which height consensus
    is deciding; once one goes, the others see 2."""
    network = write_network(tmp_path / "net", 4, consensus=FAST_CONSENSUS)
    with running_nodes([n.config for n in network.nodes], tmp_path) as nodes:
        def all_see(count: int, among: list[Any]) -> bool:
            texts = [scrape(node.url) for node in among]
            return all(value(text, "vcledger_peers_connected") == count for text in texts)

        wait_until(lambda: all_see(3, nodes), timeout=30, what="every node sees 3 peers")
        text = scrape(nodes[0].url)
        assert value(text, "vcledger_peers_known") == 3
        assert value(text, "vcledger_catch_up_failures_total") >= 0
        # Deciding or waiting to start it, the height is the one after the newest block (a
        # scrape that falls between a commit and its gauges is retried).
        def deciding_the_next_height() -> bool:
            text = scrape(nodes[0].url)
            return (value(text, "vcledger_consensus_height")
                    == value(text, "vcledger_block_height") + 1)

        wait_until(deciding_the_next_height, timeout=30, what="consensus deciding the next height")
        nodes[3].kill()
        wait_until(lambda: all_see(2, nodes[:3]), timeout=30, what="the others see 2 peers")


# -- the monitoring files -------------------------------------------------------------------

METRIC_NAME = re.compile(r"\b((?:vcledger|process|python)_[a-z_]+)\b")


def queried_metrics(expressions: list[str]) -> set[str]:
    return {name for expr in expressions for name in METRIC_NAME.findall(expr)}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"]
                   for target in panel.get("targets", [])]
    assert expressions, "the dashboard queries nothing"
    return expressions


def alert_expressions() -> list[str]:
    # The rules file keeps each expression on its `expr:` line, so it reads without a YAML
    # library; Prometheus' own `promtool check rules` is the full check.
    return [line.split("expr:", 1)[1].strip() for line in ALERTS.read_text().splitlines()
            if line.strip().startswith("expr:")]


def test_dashboard_is_importable_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["uid"]
    panel_ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(panel_ids) == len(set(panel_ids))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"


def test_alert_rules_name_the_issue_alerts() -> None:
    text = ALERTS.read_text()
    for alert in ("VcledgerCheckpointStalled", "VcledgerRoundChanges", "VcledgerEvidence",
                  "VcledgerPeersDown"):
        assert f"alert: {alert}" in text
    assert len(alert_expressions()) >= 4


@pytest.mark.slow
def test_monitoring_files_query_only_exported_metrics(observed: Observed) -> None:
    exported = set(samples(observed.metrics))
    missing = queried_metrics(dashboard_expressions() + alert_expressions()) - exported
    assert not missing, f"queried but not exported: {sorted(missing)}"
