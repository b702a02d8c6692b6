"""End to end: a stackable pathway with the ``vcledger`` commands against a real node.

One node process on 127.0.0.1 (as tests/system/test_client_e2e.py starts it).  A university
and a college sign Open Badges 3.0 AchievementCredentials (eddsa-jcs-2022) for Ada
and issue them; the university publishes the "Data Analyst Professional" pathway
(three badges from two issuers, aligned to O*NET and ESCO); an employer checks the
claim offline with ``vcledger pathway verify``.  Then a badge is revoked, the
pathway gets a second version and is retired, and each change shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.openbadges import (
    COLLEGE_ID,
    PATHWAY_ID,
    SQL,
    STATISTICS,
    UNI_ID,
    VISUALISATION,
    achievement_credential,
    data_analyst_definition,
)
from tests.system.test_client_e2e import Node, cli, ok, serving_node

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with serving_node(tmp_path_factory.mktemp("pathway-node")) as started:
        yield started


def _badge(work: Path, name: str, key: Path, document: dict[str, Any]) -> Path:
    path = work / f"{name}.json"
    path.write_text(json.dumps(document, indent=2))
    ok("sign", str(path), "--key", str(key))
    ok("issue", str(path), "--key", str(key))
    return path


def _bundle(work: Path, trust: Path, credential: Path) -> Path:
    out = work / f"{credential.stem}.bundle.json"
    code, _, err = cli("bundle", str(credential), "--trust", str(trust), "--out", str(out),
                       "--issuer", json.loads(credential.read_text())["proof"]
                       ["verificationMethod"].split("#")[0])
    assert code in (0, 3), err
    return out


def _verify(pathway: Path, trust: Path, *pairs: tuple[Path, Path]) -> tuple[int, Any]:
    argv = ["pathway", "verify", str(pathway), "--trust", str(trust)]
    for bundle, credential in pairs:
        argv += ["--bundle", str(bundle), "--credential", str(credential)]
    code, document, err = cli(*argv)
    assert err == "", err
    return code, document


def test_three_badges_from_two_issuers_make_a_professional_track(
        node: Node, tmp_path: Path) -> None:
    work = tmp_path
    trust = node.directory / "trust.json"
    admin = str(node.directory / "governance.key")
    uni_key, college_key = work / "uni.key", work / "college.key"
    uni = ok("keygen", "--out", str(uni_key))["did"]
    college = ok("keygen", "--out", str(college_key))["did"]
    ok("issuer", "register", "--admin-key", admin, "--issuer", uni, "--name",
       "Example University", "--id", UNI_ID)
    ok("issuer", "register", "--admin-key", admin, "--issuer", college, "--name",
       "Example Community College", "--id", COLLEGE_ID)

    university = (UNI_ID, "Example University")
    sql = _badge(work, "sql", uni_key, achievement_credential(*university, SQL, result="88"))
    statistics = _badge(work, "statistics", uni_key,
                        achievement_credential(*university, STATISTICS, number=2))
    visualisation = _badge(work, "visualisation", college_key, achievement_credential(
        COLLEGE_ID, "Example Community College", VISUALISATION, number=3))

    definition = work / "data-analyst-v1.json"
    definition.write_text(json.dumps(data_analyst_definition(owner=uni), indent=2))
    defined = ok("pathway", "define", str(definition), "--key", str(uni_key))
    assert (defined["kind"], defined["version"], defined["pathway_id"]) == (
        "pathway.define", 1, PATHWAY_ID)
    pathway = work / "data-analyst.pathway.json"
    made = ok("pathway", "bundle", PATHWAY_ID, "--issuer", uni, "--trust", str(trust),
              "--out", str(pathway), "--definition", str(definition))
    assert made["verdict"]["status"] == "valid"
    assert made["verdict"]["pathway"]["owner"]["name"] == "Example University"

    # The employer, offline: the pathway bundle, three bundles, three badges, the trust file.
    pairs = [(_bundle(work, trust, c), c) for c in (sql, statistics, visualisation)]
    code, verdict = _verify(pathway, trust, *pairs)
    assert code == 0 and verdict["status"] == "complete", verdict["message"]
    assert [r["credential"] for r in verdict["requirements"]] == [1, 2, 3]
    assert {(c["framework"], c["code"]) for c in verdict["competencies"]} == {
        ("O*NET", "2.B.3.e"), ("ESCO", "2521"), ("O*NET", "2.C.4.a"), ("ESCO", "2120"),
        ("O*NET", "4.A.2.a.4")}
    assert all(c["verdict"]["embedded_proof"] == "verified" for c in verdict["credentials"])

    # Two badges only: incomplete, and it says which is missing.
    code, verdict = _verify(pathway, trust, pairs[0], pairs[2])
    assert code == 7 and [r["reason"] for r in verdict["requirements"]] == [
        None, "missing", None]

    # The university revokes the statistics badge: a fresh bundle shows it.
    ok("revoke", str(statistics), "--reason", "issued_in_error", "--key", str(uni_key))
    pairs[1] = (_bundle(work, trust, statistics), statistics)
    code, verdict = _verify(pathway, trust, *pairs)
    assert code == 7 and verdict["requirements"][1]["reason"] == "revoked"

    # Version 2 supersedes version 1: the old document no longer makes a bundle.
    second = work / "data-analyst-v2.json"
    second.write_text(json.dumps(data_analyst_definition(owner=uni, version=2,
                                                         max_span_days=365), indent=2))
    ok("pathway", "define", str(second), "--key", str(uni_key))
    code, _, err = cli("pathway", "bundle", PATHWAY_ID, "--issuer", uni, "--trust", str(trust),
                       "--out", str(work / "old.pathway.json"), "--definition", str(definition))
    assert code == 4 and "another version's" in err
    assert not (work / "old.pathway.json").exists()
    ok("pathway", "bundle", PATHWAY_ID, "--issuer", uni, "--trust", str(trust), "--out",
       str(work / "v2.pathway.json"), "--definition", str(second))

    # Retired: no version verifies, and no bundle is written.
    ok("pathway", "retire", PATHWAY_ID, "--key", str(uni_key))
    code, _, err = cli("pathway", "bundle", PATHWAY_ID, "--issuer", uni, "--trust", str(trust),
                       "--out", str(work / "retired.pathway.json"), "--definition", str(second))
    assert code == 4 and "retired" in err
    third = work / "data-analyst-v3.json"
    third.write_text(json.dumps(data_analyst_definition(owner=uni, version=3), indent=2))
    code, _, err = cli("pathway", "define", str(third), "--key", str(uni_key))
    assert code == 1 and "pathway_retired" in err
