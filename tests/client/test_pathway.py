"""Pathways: definitions, pathway bundles and their steps, and verify_pathway's verdicts.

One in-process ledger (node.Ledger, as tests/client/test_verify.py drives it) holds a
university and a college issuing Open Badges 3.0 AchievementCredentials to Ada
(tests/openbadges.py) and the university's "Data Analyst Professional" pathway.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from client import credentials
from client.bundle import StatusEntry, format_bundle
from client.cli import main as cli_main
from client.credentials import digest as credential_digest
from client.errors import InvalidEncoding
from client.events import (
    CredentialIssue,
    CredentialRevoke,
    IssuerCompromise,
    IssuerRegister,
    PathwayDefine,
    PathwayRetire,
    RevocationReason,
)
from client.hashes import Hash
from client.keys import KeyPair, write_key_file
from client.pathway import (
    SCHEMA_RESOURCE,
    DefinitionError,
    PathwayBundle,
    PathwayStatus,
    best_result,
    build_pathway_bundle,
    format_pathway_bundle,
    format_schema,
    parse_definition,
    parse_pathway_bundle,
    pathway_bundle_json,
)
from client.pathway_verdict import PathwayVerdict
from client.pathway_verify import PATHWAY_STEPS, verify_pathway, verify_pathway_bundle
from client.status import PathwayRecord, decode_record, issuer_status_key, pathway_status_key
from client.trust import Trust, parse_trust
from tests.client.test_verify import GOVERNANCE, ORIGIN, InProcessLedger, key
from tests.nodeutil import serving
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

UNI = key("uni")
COLLEGE = key("college")
EVIL = key("evil")
ADA = "did:example:learner-ada"
BOB = "did:example:learner-bob"
AT_LEAST = PATHWAY_ID + "/at-least-2"
WITHIN_30 = PATHWAY_ID + "/within-30-days"
RETIRED = PATHWAY_ID + "/retired"
COLLEGE_PATHWAY = "https://college.example/pathways/visual-analytics"
DAY_MS = 86_400_000


def _file(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2).encode()


@dataclasses.dataclass
class World:
    ledger: InProcessLedger
    files: dict[str, bytes]
    digests: dict[str, Hash]
    issuers: dict[str, str]
    definitions: dict[tuple[str, str, int], dict[str, Any]]
    sizes: dict[str, int]

    @property
    def trust(self) -> Trust:
        return self.ledger.trust()

    @property
    def now(self) -> int:
        return self.ledger.time_ms // 1000 + 60

    def credential(self, name: str, *, tree_size: int | None = None) -> tuple[Any, bytes]:
        """(bundle, credential file) of one of the issued credentials."""
        bundle = self.ledger.bundle(self.issuers[name], self.digests[name], tree_size=tree_size)
        return bundle, self.files[name]

    def pathway(self, owner: KeyPair, pathway_id: str = PATHWAY_ID, *,
                version: int | None = None, tree_size: int | None = None) -> PathwayBundle:
        """What client.http.fetch_pathway_bundle assembles, read straight from the ledger."""
        ledger = self.ledger.ledger
        size = ledger.head.tree_size if tree_size is None else tree_size
        note = self.ledger.checkpoints.note(size)
        assert note is not None
        owner_proof = ledger.status_proof(issuer_status_key(owner.did), size)
        proof = ledger.status_proof(pathway_status_key(owner.did, pathway_id), size)
        assert proof.value is not None
        record = decode_record(proof.value)
        assert isinstance(record, PathwayRecord)
        entry = record.current if version is None else record.version(version)
        assert entry is not None
        index = entry.position.index
        definition = self.definitions[(owner.did, pathway_id, entry.version)]
        return build_pathway_bundle(
            origin=ORIGIN, owner=owner.did, pathway_id=pathway_id,
            definition=json.loads(json.dumps(definition)), event=ledger.leaf(index),
            event_index=index, event_audit_path=ledger.inclusion_proof(index, size),
            checkpoint_note=note, header=owner_proof.header.encoded,
            header_audit_path=ledger.inclusion_proof(size - 1, size),
            status=PathwayStatus(StatusEntry(owner_proof.value, owner_proof.proof),
                                 StatusEntry(proof.value, proof.proof)))

    def verify(self, names: list[str], *, pathway: PathwayBundle | bytes | str | None = None,
               **options: Any) -> PathwayVerdict:
        pathway = self.pathway(UNI, tree_size=self.sizes["before v2"]) if pathway is None \
            else pathway
        pairs = [self.credential(n) for n in names]
        options.setdefault("now", self.now)
        return verify_pathway(pathway, pairs, self.trust, labels=names, **options)


def build_world(directory: Any) -> World:
    ledger = InProcessLedger(directory)
    files: dict[str, bytes] = {}
    digests: dict[str, Hash] = {}
    issuers: dict[str, str] = {}
    definitions: dict[tuple[str, str, int], dict[str, Any]] = {}
    sizes: dict[str, int] = {}
    ledger.commit(
        ledger.sign(IssuerRegister(UNI.did, "Example University", UNI.public_key, (UNI_ID,)),
                    GOVERNANCE),
        ledger.sign(IssuerRegister(COLLEGE.did, "Example Community College",
                                   COLLEGE.public_key, (COLLEGE_ID,)), GOVERNANCE),
        ledger.sign(IssuerRegister(EVIL.did, "Evil Academy", EVIL.public_key,
                                   ("https://evil.example/issuers/1",)), GOVERNANCE))

    def define(owner: KeyPair, definition: dict[str, Any]) -> Any:
        parsed = parse_definition(_file(definition))
        definitions[(owner.did, definition["id"], definition["version"])] = definition
        return ledger.sign(PathwayDefine(owner.did, definition["id"], definition["version"],
                                         parsed.digest), owner)

    ledger.commit(
        define(UNI, data_analyst_definition(owner=UNI.did)),
        define(UNI, data_analyst_definition(pathway_id=AT_LEAST, rule={"at_least": 2},
                                            max_span_days=None)),
        define(UNI, data_analyst_definition(pathway_id=WITHIN_30, max_span_days=30)),
        define(UNI, data_analyst_definition(pathway_id=RETIRED)),
        # Evil Academy publishes the same id under its own DID, claiming the university.
        define(EVIL, data_analyst_definition(owner=UNI.did)))

    def issue(name: str, signer: KeyPair, document: dict[str, Any]) -> Any:
        files[name] = _file(document)
        digests[name] = credential_digest(files[name])
        issuers[name] = signer.did
        return ledger.sign(CredentialIssue(signer.did, digests[name]), signer)

    uni = (UNI_ID, "Example University")
    college = (COLLEGE_ID, "Example Community College")
    ledger.commit(
        issue("sql", UNI, achievement_credential(*uni, SQL, number=1, result="88")),
        issue("statistics", UNI, achievement_credential(*uni, STATISTICS, number=2)),
        issue("visualisation", COLLEGE, achievement_credential(*college, VISUALISATION,
                                                               number=3)),
        issue("sql-low", UNI, achievement_credential(*uni, SQL, number=4, result="62")),
        issue("sql-revoked", UNI, achievement_credential(*uni, SQL, number=5, result="91")),
        issue("statistics-bob", UNI, achievement_credential(*uni, STATISTICS, number=6,
                                                            learner=BOB)),
        issue("statistics-expired", UNI, achievement_credential(
            *uni, STATISTICS, number=7, valid_until="2026-04-01T00:00:00Z")),
        issue("visualisation-evil", EVIL, achievement_credential(
            "https://evil.example/issuers/1", "Evil Academy", VISUALISATION, number=8)))
    ledger.commit(ledger.sign(CredentialRevoke(UNI.did, digests["sql-revoked"],
                                               RevocationReason.FRAUD), UNI))
    sizes["old"] = ledger.ledger.head.tree_size
    ledger.time_ms += 60 * DAY_MS  # two months later
    ledger.commit(issue("visualisation-late", COLLEGE, achievement_credential(
        *college, VISUALISATION, number=9, valid_from="2026-05-01T09:00:00Z")),
        ledger.sign(PathwayRetire(UNI.did, RETIRED), UNI))
    sizes["before v2"] = ledger.ledger.head.tree_size
    ledger.commit(define(UNI, data_analyst_definition(owner=UNI.did, version=2)),
                  define(COLLEGE, data_analyst_definition(pathway_id=COLLEGE_PATHWAY)))
    since = ledger.ledger.head.tree_size - 2  # the college's definition, just above
    ledger.commit(ledger.sign(IssuerCompromise(COLLEGE.did, since, "key leaked"), GOVERNANCE))
    return World(ledger, files, digests, issuers, definitions, sizes)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = build_world(tmp_path_factory.mktemp("pathways"))
    yield built
    built.ledger.close()


def _reasons(verdict: PathwayVerdict) -> list[str | None]:
    return [r.reason for r in verdict.requirements]


# -- complete ---------------------------------------------------------------------------------


def test_three_badges_from_two_issuers_complete_the_track(world: World) -> None:
    verdict = world.verify(["sql", "statistics", "visualisation"])
    assert verdict.status == "complete" and verdict.exit_code == 0, verdict.lines()
    assert [r.credential for r in verdict.requirements] == [1, 2, 3]
    assert verdict.holder == ADA and verdict.holder_from == "the subject of sql"
    assert [(c.framework, c.code) for c in verdict.competencies] == [
        ("O*NET", "2.B.3.e"), ("ESCO", "2521"), ("O*NET", "2.C.4.a"), ("ESCO", "2120"),
        ("O*NET", "4.A.2.a.4")]
    assert verdict.message.startswith(f'complete: {ADA} meets "Data Analyst Professional" '
                                      f"(version 1 of {PATHWAY_ID}), defined by "
                                      '"Example University"')
    text = "\n".join(verdict.lines())
    assert "requirement 1 (https://uni.example/achievements/sql-for-data-analysis from " \
           "https://uni.example/issuers/1, result at least 70): met by sql (issued by " \
           '"Example University" on' in text
    assert 'O*NET 2.B.3.e "Programming"' in text and "no presentation proof" in text
    document = verdict.as_json()
    assert json.loads(json.dumps(document)) == document
    assert document["pathway"]["pathway"]["owner"]["did"] == UNI.did
    assert document["rule"]["needed"] == 3 and document["rule"]["met"] == 3
    assert document["span"]["within"] is True
    assert document["credentials"][0]["result"] == 88
    assert document["credentials"][0]["verdict"]["status"] == "valid"


def test_order_and_extra_credentials_do_not_matter(world: World) -> None:
    verdict = world.verify(["visualisation", "sql-low", "statistics-bob", "sql", "statistics"],
                           holder=ADA)
    assert verdict.status == "complete", verdict.lines()
    assert [r.credential for r in verdict.requirements] == [4, 5, 1]
    assert [c.meets for c in verdict.credentials] == [3, None, None, 1, 2]


def test_each_credential_file_is_parsed_once(world: World,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle's digest check and the requirements read the same parsed document."""
    parsed: list[bytes] = []
    parse = credentials.parse_credential

    def counting_parse(credential_json: bytes) -> dict[str, Any]:
        parsed.append(credential_json)
        return parse(credential_json)

    monkeypatch.setattr(credentials, "parse_credential", counting_parse)
    names = ["sql", "statistics", "visualisation"]
    verdict = world.verify(names)
    assert verdict.status == "complete", verdict.lines()
    assert sorted(parsed) == sorted(world.files[name] for name in names)


# -- incomplete -------------------------------------------------------------------------------


def test_a_missing_badge_is_incomplete(world: World) -> None:
    verdict = world.verify(["sql", "visualisation"])
    assert verdict.status == "incomplete" and verdict.exit_code == 7
    assert _reasons(verdict) == [None, "missing", None]
    assert "requirement 2 missing" in verdict.message
    assert "no credential presented is for https://uni.example/achievements/applied-" \
           "statistics" in verdict.requirements[1].message


def test_a_revoked_badge_does_not_count(world: World) -> None:
    verdict = world.verify(["sql-revoked", "statistics", "visualisation"])
    assert verdict.status == "incomplete" and _reasons(verdict) == ["revoked", None, None]
    assert "sql-revoked is revoked on" in verdict.requirements[0].message
    assert "(fraud" in verdict.requirements[0].message


def test_a_stale_badge_does_not_count(world: World) -> None:
    pairs = [world.credential("sql", tree_size=world.sizes["old"]),
             world.credential("statistics"), world.credential("visualisation")]
    verdict = verify_pathway(world.pathway(UNI, tree_size=world.sizes["before v2"]), pairs,
                             world.trust, now=world.now)
    assert verdict.status == "incomplete" and _reasons(verdict) == ["stale", None, None]
    assert "is stale: checkpoint" in verdict.requirements[0].message


def test_an_expired_badge_does_not_count(world: World) -> None:
    verdict = world.verify(["sql", "statistics-expired", "visualisation"])
    assert verdict.status == "incomplete" and _reasons(verdict) == [None, "expired", None]


def test_a_badge_of_another_issuer_does_not_count(world: World) -> None:
    verdict = world.verify(["sql", "statistics", "visualisation-evil"])
    assert verdict.status == "incomplete" and _reasons(verdict) == [None, None, "wrong_issuer"]
    message = verdict.requirements[2].message
    assert '"Evil Academy"' in message and f"not by {COLLEGE_ID}" in message


def test_a_badge_of_another_holder_does_not_count(world: World) -> None:
    verdict = world.verify(["sql", "statistics-bob", "visualisation"])
    assert verdict.status == "incomplete" and _reasons(verdict) == [None, "other_holder", None]
    assert f"names holder {BOB}, not {ADA}" in verdict.requirements[1].message
    # A holder named by the verifier wins over the first credential's subject.
    named = world.verify(["sql", "statistics", "visualisation"], holder=BOB)
    assert named.status == "incomplete" and named.holder_from == "given by the verifier"
    assert _reasons(named) == ["other_holder"] * 3


def test_a_result_below_the_minimum_does_not_count(world: World) -> None:
    verdict = world.verify(["sql-low", "statistics", "visualisation"])
    assert verdict.status == "incomplete" and _reasons(verdict) == ["below_min_result", None,
                                                                   None]
    assert "a best result of 62; the requirement needs at least 70" in \
        verdict.requirements[0].message


def test_an_invalid_credential_bundle_is_named_against_its_requirement(world: World) -> None:
    pairs = [world.credential("sql"), world.credential("statistics"),
             (world.credential("visualisation")[0], world.files["visualisation-evil"])]
    verdict = verify_pathway(world.pathway(UNI, tree_size=world.sizes["before v2"]), pairs,
                             world.trust, now=world.now)
    assert verdict.status == "incomplete" and _reasons(verdict) == [None, None, "invalid"]
    assert verdict.credentials[2].verdict.step == 7


# -- rules ------------------------------------------------------------------------------------


def test_at_least_two_of_three(world: World) -> None:
    pathway = world.pathway(UNI, AT_LEAST)
    two = world.verify(["sql", "visualisation"], pathway=pathway)
    assert two.status == "complete" and two.needed == 2, two.lines()
    assert _reasons(two) == [None, "missing", None]
    one = world.verify(["sql", "statistics-expired"], pathway=pathway)
    assert one.status == "incomplete" and "needs at least 2 of 3 requirements" in one.message
    assert world.verify(["sql", "statistics", "visualisation"],
                        pathway=pathway).status == "complete"


def test_the_maximum_span_between_issuances(world: World) -> None:
    pathway = world.pathway(UNI, WITHIN_30)
    late = world.verify(["sql", "statistics", "visualisation-late"], pathway=pathway)
    assert late.status == "incomplete" and late.span_within is False, late.lines()
    assert "span 60 days; the pathway allows 30" in late.message
    assert late.span_days == 60
    # With the badge issued in the same month, the window holds all three ...
    assert world.verify(["sql", "statistics", "visualisation"],
                        pathway=pathway).status == "complete"
    # ... and when both are presented, the one inside the window is counted.
    both = world.verify(["visualisation-late", "sql", "statistics", "visualisation"],
                        pathway=pathway)
    assert both.status == "complete" and both.requirements[2].credential == 4
    assert both.span_days is not None and both.span_days < 1


def test_the_span_is_measured_by_the_ledgers_issuance_dates(world: World) -> None:
    # validFrom says 2026-05-01, but the span counts the blocks that issued them.
    verdict = world.verify(["sql", "statistics", "visualisation-late"])
    assert verdict.status == "complete" and verdict.span_days == 60


# -- the pathway bundle -----------------------------------------------------------------------


def test_a_superseded_version_is_refused(world: World) -> None:
    old_at_new = world.pathway(UNI, version=1)
    verdict = world.verify(["sql", "statistics", "visualisation"], pathway=old_at_new)
    assert (verdict.status, verdict.step, verdict.exit_code) == ("invalid", 9, 4)
    assert "superseded: version 1 was replaced by version 2 at log index" in verdict.message
    # The current version at the same checkpoint is fine.
    assert world.verify(["sql", "statistics", "visualisation"],
                        pathway=world.pathway(UNI)).status == "complete"


def test_a_tampered_definition_is_invalid(world: World) -> None:
    bundle = world.pathway(UNI, tree_size=world.sizes["before v2"])
    definition = copy.deepcopy(bundle.definition)
    definition["requirements"][0]["min_result"] = 50  # the learner's 62 would pass
    tampered = dataclasses.replace(bundle, definition=definition)
    verdict = world.verify(["sql-low", "statistics", "visualisation"], pathway=tampered)
    assert (verdict.status, verdict.step, verdict.step_name) == ("invalid", 7, "definition")
    assert "the document was altered, or it is another version's" in verdict.message
    dropped = dict(bundle.definition)
    dropped["requirements"] = dropped["requirements"][:1]
    assert world.verify(["sql"], pathway=dataclasses.replace(
        bundle, definition=dropped)).step == 7


def test_a_definition_by_a_non_owner_is_invalid(world: World) -> None:
    evil = world.pathway(EVIL)
    # Its document claims the university as owner; the event was signed for Evil Academy.
    verdict = world.verify(["sql", "statistics", "visualisation"], pathway=evil)
    assert (verdict.status, verdict.step) == ("invalid", 7)
    assert f"owner {UNI.did} (the event was signed for {EVIL.did})" in verdict.message
    # Relabelled as the university's pathway, its event is another owner's.
    relabelled = dataclasses.replace(evil, owner=UNI.did)
    verdict = world.verify(["sql"], pathway=relabelled)
    assert (verdict.status, verdict.step) == ("invalid", 6)
    # The university's own pathway, pinned to another owner, is refused too.
    pinned = world.verify(["sql"], expected_owner="https://evil.example/issuers/1")
    assert (pinned.status, pinned.step) == ("invalid", 8)
    assert world.verify(["sql", "statistics", "visualisation"],
                        expected_owner=UNI_ID).status == "complete"


def test_a_retired_pathway_is_invalid(world: World) -> None:
    verdict = world.verify(["sql"], pathway=world.pathway(UNI, RETIRED))
    assert (verdict.status, verdict.step) == ("invalid", 9)
    assert "retired pathway" in verdict.message


def test_a_definition_voided_by_a_compromise_is_invalid(world: World) -> None:
    verdict = world.verify(["sql"], pathway=world.pathway(COLLEGE, COLLEGE_PATHWAY))
    assert (verdict.status, verdict.step) == ("invalid", 8)
    assert "compromised from log index" in verdict.message and "is void" in verdict.message


def test_a_stale_pathway_bundle_leaves_the_track_incomplete(world: World) -> None:
    pathway = world.pathway(UNI, tree_size=world.sizes["old"])
    verdict = world.verify(["sql", "statistics", "visualisation"], pathway=pathway)
    assert verdict.status == "incomplete"
    assert "the proof of the pathway definition is stale" in verdict.message
    assert verdict.pathway_bundle is not None and verdict.pathway_bundle.status == "stale"
    fresh_enough = world.verify(["sql", "statistics", "visualisation"], pathway=pathway,
                                max_age=None)
    assert fresh_enough.status == "complete"
    assert any("not bounded" in n for n in fresh_enough.notes)


def test_the_bundle_text_round_trips_and_every_step_can_fail(world: World) -> None:
    bundle = world.pathway(UNI, tree_size=world.sizes["before v2"])
    text = format_pathway_bundle(bundle)
    assert parse_pathway_bundle(text) == bundle
    assert world.verify(["sql", "statistics", "visualisation"],
                        pathway=text).status == "complete"
    document = json.loads(text)
    failures = {
        1: {**document, "extra": 1},
        2: {**document, "origin": "vcledger.example/other"},
        3: {**document, "event_proof": document["event_proof"].replace(
            "\n\u2014 ", "\n\u2014 x", 1)},
        4: {**document, "header": document["event"]},
        5: {**document, "event": document["header"]},
        9: {**document, "status": {**document["status"],
                                   "pathway": document["status"]["owner"]}},
    }
    for step, broken in failures.items():
        verdict = world.verify(["sql"], pathway=json.dumps(broken))
        assert (verdict.status, verdict.step) == ("invalid", step), (step, verdict.message)
        assert verdict.step_name == PATHWAY_STEPS[step - 1]


def test_pathway_bundles_are_parsed_strictly() -> None:
    with pytest.raises(InvalidEncoding, match="format"):
        parse_pathway_bundle(b'{"format": "vcledger-bundle/v2"}')
    with pytest.raises(InvalidEncoding, match="duplicate member"):
        parse_pathway_bundle(b'{"format": 1, "format": 2}')
    with pytest.raises(InvalidEncoding, match="the limit is"):
        parse_pathway_bundle(b" " * (256 * 1024 + 1))


# -- definitions ------------------------------------------------------------------------------


def test_definitions_are_checked_and_errors_name_the_member() -> None:
    good = data_analyst_definition()
    assert parse_definition(_file(good)).model.needed == 3
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "title": "x"}, "title: is not a member of a pathway definition"),
        ({**good, "rule": {"any_of": True}}, 'rule: must be {"all_of": true} or'),
        ({**good, "rule": {"at_least": 4}}, "rule.at_least is 4 but there are only 3"),
        ({**good, "rule": {"at_least": 0}}, "rule.at_least: Input should be greater"),
        ({**good, "owner": None}, "owner: omit the member rather than give null"),
        ({**good, "id": "http://uni.example/p"}, "id: must be an https URL"),
        ({**good, "version": 0}, "version: Input should be greater than or equal to 1"),
        ({**good, "max_span_days": 1.5}, "max_span_days"),
        ({k: v for k, v in good.items() if k != "max_span_days"}, "max_span_days: is required"),
        ({**good, "requirements": []}, "requirements: List should have at least 1 item"),
    ]
    bad_requirement = dict(good["requirements"][1])
    bad_requirement["min_result"] = "70"
    cases.append(({**good, "requirements": [good["requirements"][0], bad_requirement]},
                  "requirements[1].min_result: must be a JSON number or null"))
    bad_alignment = copy.deepcopy(good["requirements"][0])
    bad_alignment["alignment"][0]["targetUrl"] = "ftp://x"
    cases.append(({**good, "requirements": [bad_alignment]},
                  "requirements[0].alignment[0].targetUrl: must be an http or https URL"))
    for document, fragment in cases:
        with pytest.raises(DefinitionError) as caught:
            parse_definition(_file(document))
        assert fragment in caught.value.diagnostics(), caught.value.diagnostics()
    with pytest.raises(DefinitionError, match="IEEE 754"):
        parse_definition(json.dumps(good).replace('"version": 1',
                                                  '"version": 12345678901234567890').encode())


def test_the_digest_is_rfc8785_so_formatting_does_not_matter() -> None:
    definition = data_analyst_definition()
    compact = json.dumps(definition, separators=(",", ":"), sort_keys=True).encode()
    assert parse_definition(compact).digest == parse_definition(_file(definition)).digest
    changed = data_analyst_definition(max_span_days=731)
    assert parse_definition(_file(changed)).digest != parse_definition(compact).digest


def test_the_shipped_json_schema_is_the_models() -> None:
    shipped = importlib.resources.files("client").joinpath(SCHEMA_RESOURCE).read_text()
    assert shipped == format_schema(), "run: .venv/bin/python scripts/gen_pathway_schema.py"
    schema = json.loads(shipped)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"id", "name", "version", "rule", "max_span_days",
                                       "requirements"}


@pytest.mark.parametrize(("result", "expected"), [
    ([{"value": "88"}], Decimal(88)),
    ([{"value": "88"}, {"value": 91.5}, {"value": "A"}], Decimal("91.5")),
    ({"value": " 7.25 "}, Decimal("7.25")),
    ([{"value": "85%"}, {"value": True}, {"value": "1e3"}], None),
    ("88", None),
])
def test_best_result_reads_open_badges_results(result: Any, expected: Decimal | None) -> None:
    assert best_result({"credentialSubject": {"result": result}}) == expected


def test_pathway_bundle_json_has_the_documented_members(world: World) -> None:
    document = pathway_bundle_json(world.pathway(UNI))
    assert list(document) == ["format", "origin", "owner", "pathway_id", "definition", "event",
                              "event_proof", "header", "header_proof", "status"]
    assert document["format"] == "vcledger-pathway-bundle/v1"


# -- the command line -------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cli_files(world: World, tmp_path: Path) -> dict[str, Path]:
    paths = {"trust": tmp_path / "trust.json",
             "pathway": tmp_path / "data-analyst.pathway.json",
             "superseded": tmp_path / "superseded.pathway.json"}
    paths["trust"].write_text(world.trust.model_dump_json())
    paths["pathway"].write_text(format_pathway_bundle(world.pathway(UNI)))
    paths["superseded"].write_text(format_pathway_bundle(world.pathway(UNI, version=1)))
    for name in ("sql", "statistics", "visualisation", "sql-revoked"):
        bundle, credential = world.credential(name)
        paths[f"{name}.bundle"] = tmp_path / f"{name}.bundle.json"
        paths[f"{name}.bundle"].write_text(format_bundle(bundle))
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_bytes(credential)
    return paths


def _pairs(paths: dict[str, Path], *names: str) -> list[str]:
    argv: list[str] = []
    for name in names:
        argv += ["--bundle", str(paths[f"{name}.bundle"]), "--credential", str(paths[name])]
    return argv


def test_cli_pathway_verify_exit_codes(capsys: pytest.CaptureFixture[str],
                                       cli_files: dict[str, Path]) -> None:
    trust = ["--trust", str(cli_files["trust"]), "--max-age", "none"]
    code, out, err = _cli(capsys, "pathway", "verify", str(cli_files["pathway"]), *trust,
                          *_pairs(cli_files, "sql", "statistics", "visualisation"))
    assert code == 0, out + err
    assert out.startswith("complete: did:example:learner-ada meets")
    assert "competencies covered: O*NET 2.B.3.e" in out
    code, out, _ = _cli(capsys, "pathway", "verify", str(cli_files["pathway"]), *trust,
                        *_pairs(cli_files, "sql-revoked", "statistics", "visualisation"),
                        "--json")
    document = json.loads(out)
    assert code == 7 and document["status"] == "incomplete"
    assert document["requirements"][0]["reason"] == "revoked"
    assert document["credentials"][0]["label"].endswith("sql-revoked.json")
    code, out, _ = _cli(capsys, "pathway", "verify", str(cli_files["superseded"]), *trust,
                        *_pairs(cli_files, "sql"))
    assert code == 4 and "superseded" in out
    code, out, _ = _cli(capsys, "pathway", "verify", str(cli_files["pathway"]), *trust,
                        *_pairs(cli_files, "sql", "statistics", "visualisation"),
                        "--owner", "https://evil.example/issuers/1")
    assert code == 4 and "step 8 (owner status)" in out


def test_cli_pathway_usage_and_file_errors(capsys: pytest.CaptureFixture[str],
                                           cli_files: dict[str, Path], tmp_path: Path) -> None:
    trust = ["--trust", str(cli_files["trust"])]
    code, _, err = _cli(capsys, "pathway", "verify", str(cli_files["pathway"]), *trust,
                        "--bundle", str(cli_files["sql.bundle"]))
    assert code == 2 and "one --bundle per --credential" in err
    code, _, err = _cli(capsys, "pathway", "bundle", "http://uni.example/p", "--issuer",
                        UNI.did, "--node", "http://127.0.0.1:9", *trust, "--out",
                        str(tmp_path / "x.json"))
    assert code == 2 and "PATHWAY_ID" in err and "https URL" in err
    definition = tmp_path / "definition.json"
    definition.write_text(json.dumps({**data_analyst_definition(), "rule": {"at_least": 9}}))
    key_file = tmp_path / "owner.key"
    write_key_file(key_file, UNI.seed)
    code, _, err = _cli(capsys, "pathway", "define", str(definition), "--key", str(key_file),
                        "--node", "http://127.0.0.1:9")
    assert code == 1 and "rule.at_least is 9 but there are only 3 requirements" in err
    definition.write_text(json.dumps(data_analyst_definition(owner=EVIL.did)))
    code, _, err = _cli(capsys, "pathway", "define", str(definition), "--key", str(key_file),
                        "--node", "http://127.0.0.1:9")
    assert code == 2 and f"names owner {EVIL.did}" in err


def test_cli_pathway_verify_never_loads_the_network_client(cli_files: dict[str, Path]) -> None:
    argv = ["pathway", "verify", str(cli_files["pathway"]), "--trust", str(cli_files["trust"]),
            "--max-age", "none", *_pairs(cli_files, "sql", "statistics", "visualisation")]
    code = ("import sys; from client.cli import main; "
            f"rc = main({argv!r}); "
            "loaded = [m for m in ('aiohttp', 'client.http') if m in sys.modules]; "
            "print(loaded); sys.exit(rc if not loaded else 99)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False, cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("complete: ")


def test_the_definition_is_fetched_from_where_its_owner_publishes_it(tmp_path: Path) -> None:
    import asyncio
    import http.server

    from client.errors import LedgerError
    from client.http import fetch_definition

    document = _file(data_analyst_definition())

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = document if self.path == "/pathway" else b"x" * (64 * 1024 + 1)
            self.send_response(200 if self.path != "/missing" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(Handler) as base:
        fetched = asyncio.run(fetch_definition(base + "/pathway", timeout=10))
        assert parse_definition(fetched).digest == parse_definition(document).digest
        for path, fragment in (("/big", "larger than"), ("/missing", "HTTP 404")):
            with pytest.raises(LedgerError, match=fragment):
                asyncio.run(fetch_definition(base + path, timeout=10))


def test_hostile_pathway_bundles_are_invalid_never_a_crash(world: World) -> None:
    document = json.loads(format_pathway_bundle(world.pathway(UNI)))
    deep: Any = []
    for _ in range(600):
        deep = [deep]
    hostile = [
        {**document, "definition": {**document["definition"], "x": deep}},
        {**document, "definition": {**document["definition"], "version": 1e400}},
        {**document, "definition": []},
        {**document, "status": {"owner": document["status"]["owner"]}},
        {**document, "pathway_id": "https://uni.example/" + "p" * 300},
    ]
    for broken in hostile:
        text = json.dumps(broken).replace("Infinity", "1e400")
        verdict = world.verify(["sql"], pathway=text)
        assert verdict.status == "invalid" and verdict.step in (1, 7), verdict.message
    for cut in range(0, len(json.dumps(document)), 997):
        verdict = world.verify([], pathway=json.dumps(document)[:cut])
        assert (verdict.status, verdict.step) == ("invalid", 1)


# -- the pathway-bundle vectors (tests/vectors/pathway_bundle_*.json, docs/protocol.md §17.3) --

_VECTORS = Path(__file__).parents[1] / "vectors"
_PATHWAY_VALID = json.loads((_VECTORS / "pathway_bundle_valid.json").read_text())
_PATHWAY_INVALID = json.loads((_VECTORS / "pathway_bundle_invalid.json").read_text())


@pytest.mark.parametrize("case", _PATHWAY_VALID["cases"], ids=lambda c: c["name"])
def test_pathway_bundle_vectors(case: dict[str, Any]) -> None:
    trust = parse_trust(json.dumps(_PATHWAY_VALID["trust"]))
    verdict = verify_pathway_bundle(json.dumps(case["bundle"]), trust, now=case["now"])
    expected = case["expected"]
    assert verdict.status == expected["status"], verdict.message
    assert verdict.pathway is not None
    info = verdict.pathway.as_json()
    assert (info["version"], info["event_index"], info["versions_published"]) == (
        expected["version"], expected["event_index"], expected["versions_published"])
    assert info["checkpoint"]["tree_size"] == expected["tree_size"]


@pytest.mark.parametrize("case", _PATHWAY_INVALID["cases"], ids=lambda c: c["name"])
def test_invalid_pathway_bundle_vectors(case: dict[str, Any]) -> None:
    trust = parse_trust(json.dumps(_PATHWAY_INVALID["trust"]))
    verdict = verify_pathway_bundle(json.dumps(case["bundle"]), trust, now=case["now"])
    assert (verdict.status, verdict.step) == ("invalid", case["step"]), verdict.message
