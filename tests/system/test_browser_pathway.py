"""The browser verifier's pathway mode (client/web/) in headless Chromium, against
client.pathway_verify.

Every case below goes through ``window.vcledger.verifyPathway`` and through
``verify_pathway(...).as_json()``; the two must be equal, field for field and message for
message.  The cases are built on the ledger of tests/client/test_pathway.py (``build_world``: a
university and a college issuing Open Badges 3.0 credentials to Ada, the "Data Analyst
Professional" pathway, its versions and variants), extended here with more badges
(retaken, signed, without a holder, not yet valid, with numeric results of every
spelling, typed only), more pathways (requirements by VC type and by did:key, a badge
needed twice, "at least 2 within 30 days", fractional minimums, an owner renamed and
retired since) and definitions committed on the ledger although they break the schema,
so that step 7's checks are reached.

The sets: the scenarios of issue 15 one by one; a deterministic random sample of
credential sets, holders, clocks, age bounds and pinned owners against every pathway;
every single-byte change of the binary pieces of a pathway bundle; its JSON members
removed, retyped, respelled and truncated; and, on their own, definition documents
against ``client.pathway.parse_definition``.  Then the page's pathway mode as a person
uses it.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import json
import os
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from client.block import BlockHeader, decode_leaf
from client.bundle import format_bundle
from client.credentials import digest as credential_digest
from client.errors import LedgerError
from client.events import (
    CredentialIssue,
    IssuerRegister,
    IssuerRetire,
    IssuerUpdate,
    PathwayDefine,
    PathwayRetire,
    SignedEvent,
)
from client.pathway import PathwayBundle, digest_definition, format_pathway_bundle, parse_definition
from client.pathway_verify import verify_pathway
from client.tlogproof import format_tlog_proof, parse_tlog_proof
from client.trust import format_trust
from client.verdict import TRUST_POLICY
from node.web_verifier import verify_page
from tests import webcases
from tests.client.test_pathway import (
    ADA,
    AT_LEAST,
    BOB,
    COLLEGE,
    COLLEGE_PATHWAY,
    EVIL,
    RETIRED,
    UNI,
    WITHIN_30,
    World,
    build_world,
)
from tests.client.test_verify import GOVERNANCE, key
from tests.openbadges import (
    COLLEGE_ID,
    PATHWAY_ID,
    SQL,
    STATISTICS,
    UNI_ID,
    VISUALISATION,
    achievement_credential,
    data_analyst_definition,
    requirement,
)
from tests.system import test_browser

WEB = test_browser.WEB
_file_url = test_browser._file_url
browser = test_browser.browser
page = test_browser.page
"""tests/system/test_browser.py's fixtures: a Chromium for this module, a fresh page per test
(skipped without Chromium, failed under CI)."""

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "img" / "pathway-verifier.png"
BATCH = 150
"""Cases per page call."""

GUILD = key("guild")
GUILD_ID = "https://guild.example/issuers/3"
GUILD_PATHWAY = "https://guild.example/pathways/analyst"
TYPES = PATHWAY_ID + "/by-type"
TWICE = PATHWAY_ID + "/sql-twice"
TWO_WITHIN_30 = PATHWAY_ID + "/two-within-30-days"
FRACTIONS = PATHWAY_ID + "/fractions"
TYPE = "DataAnalystBadge"

Case = dict[str, Any]


# -- the ledger: tests/client/test_pathway.py's world, extended -----------------------------


def _text(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=2).encode()


def _requirement(issuer: str, achievement: str, min_result: Any = None,
                 alignment: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"issuer": issuer, "achievement": achievement, "min_result": min_result,
            "alignment": alignment or []}


def _digest(definition: dict[str, Any]) -> Any:
    """The digest of the document as a pathway bundle carries it (numbers exact)."""
    return digest_definition(json.loads(json.dumps(definition), parse_float=Decimal))


def _malformed() -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    """Definitions that break docs/protocol.md §17.1: committed anyway (the ledger sees only
    a digest), so that step 7 reads them."""
    def set_(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
        def edit(document: dict[str, Any]) -> None:
            holder: Any = document
            for step in path[:-1]:
                holder = holder[step]
            holder[path[-1]] = value
        return edit

    def drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
        def edit(document: dict[str, Any]) -> None:
            holder: Any = document
            for step in path[:-1]:
                holder = holder[step]
            del holder[path[-1]]
        return edit

    def many(*edits: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        def edit(document: dict[str, Any]) -> None:
            for one in edits:
                one(document)
        return edit

    alignment = ("requirements", 0, "alignment", 0)
    return [
        ("at-least-4", set_(("rule",), {"at_least": 4})),
        ("at-least-0", set_(("rule",), {"at_least": 0})),
        ("at-least-true", set_(("rule",), {"at_least": True})),
        ("at-least-2.5", set_(("rule",), {"at_least": 2.5})),
        ("rule-any-of", set_(("rule",), {"any_of": True})),
        ("rule-list", set_(("rule",), [])),
        ("rule-both", set_(("rule",), {"all_of": True, "at_least": 2})),
        ("all-of-false", set_(("rule",), {"all_of": False})),
        ("all-of-text", set_(("rule",), {"all_of": "true"})),
        ("all-of-1", set_(("rule",), {"all_of": 1})),  # pydantic takes 1 for True: valid
        ("title", set_(("title",), "Data Analyst")),
        ("version-0", set_(("version",), 0)),
        ("version-huge", set_(("version",), 2**32)),
        ("owner-null", set_(("owner",), None)),
        ("owner-not-did", set_(("owner",), "did:key:abc")),
        ("owner-number", set_(("owner",), 5)),
        ("owner-long", set_(("owner",), "did:key:z" + "x" * 80)),
        ("no-span", drop(("max_span_days",))),
        ("span-0-name-empty", many(set_(("max_span_days",), 0), set_(("name",), ""))),
        ("span-huge", set_(("max_span_days",), 36501)),
        ("span-true", set_(("max_span_days",), True)),
        ("span-text", set_(("max_span_days",), "730")),
        ("name-long", set_(("name",), "é" * 201)),
        ("name-number", set_(("name",), 7)),
        ("id-number", set_(("id",), 7)),
        ("id-http", set_(("id",), "http://uni.example/p")),
        ("requirements-empty", set_(("requirements",), [])),
        ("requirements-text", set_(("requirements",), "all")),
        ("requirement-number", set_(("requirements", 1), 1)),
        ("requirements-33", lambda d: d.update(requirements=[d["requirements"][0]] * 33)),
        ("min-text", set_(("requirements", 0, "min_result"), "70")),
        ("min-true", set_(("requirements", 0, "min_result"), True)),
        ("min-list", set_(("requirements", 0, "min_result"), [70])),
        ("min-missing", drop(("requirements", 0, "min_result"))),
        ("issuer-http", set_(("requirements", 1, "issuer"), "http://uni.example/issuers/1")),
        ("issuer-number", set_(("requirements", 1, "issuer"), 1)),
        ("achievement-space", set_(("requirements", 2, "achievement"), "data visualisation")),
        ("achievement-empty", set_(("requirements", 2, "achievement"), "")),
        ("alignment-dict", set_(("requirements", 0, "alignment"), {})),
        ("alignment-17", lambda d: d["requirements"][0].update(
            alignment=d["requirements"][0]["alignment"][:1] * 17)),
        ("alignment-ftp", set_((*alignment, "targetUrl"), "ftp://x")),
        ("alignment-extra", set_((*alignment, "type"), ["Alignment"])),
        ("alignment-bad", lambda d: d["requirements"][0].update(alignment=[
            {"targetFramework": "", "targetCode": "x" * 201, "targetName": 1,
             "targetUrl": "ftp://x", "q": 1}])),
        ("requirement-empty", set_(("requirements", 0), {})),
        ("everything", many(set_(("id",), 1), set_(("version",), -1), set_(("rule",), {}),
                            set_(("zz",), 1), set_(("requirements", 2, "x"), 1))),
        ("names-other-id", set_(("id",), PATHWAY_ID + "/elsewhere")),
        ("names-version-2", set_(("version",), 2)),
        ("names-other-owner", set_(("owner",), COLLEGE.did)),
        ("names-all-other", many(set_(("id",), PATHWAY_ID + "/x"), set_(("version",), 9),
                                 set_(("owner",), EVIL.did))),
    ]


MALFORMED = [name for name, _ in _malformed()]


def _extend(world: World) -> None:
    """More badges, more pathways, malformed definitions and a guild that is renamed and
    retired after publishing its pathway."""
    ledger = world.ledger
    uni = (UNI_ID, "Example University")

    def issue(name: str, signer: Any, document: dict[str, Any]) -> Any:
        world.files[name] = _text(document)
        world.digests[name] = credential_digest(world.files[name])
        world.issuers[name] = signer.did
        return ledger.sign(CredentialIssue(signer.did, world.digests[name]), signer)

    def define(owner: Any, definition: dict[str, Any], pathway_id: str | None = None,
               version: int = 1) -> Any:
        pathway_id = pathway_id or definition["id"]
        world.definitions[(owner.did, pathway_id, version)] = definition
        return ledger.sign(PathwayDefine(owner.did, pathway_id, version, _digest(definition)),
                           owner)

    def result(document: dict[str, Any], *values: Any) -> dict[str, Any]:
        document["credentialSubject"]["result"] = [{"type": ["Result"], "value": v}
                                                   for v in values]
        return document

    signed = achievement_credential(*uni, SQL, number=10, result="95")
    signed["proof"] = webcases.sign(signed, UNI)
    no_holder = achievement_credential(*uni, STATISTICS, number=12)
    del no_holder["credentialSubject"]["id"]
    typed = {"@context": ["https://www.w3.org/ns/credentials/v2"],
             "id": "urn:uuid:0b3c1f0e-5c55-4a0a-9d59-000000000016",
             "type": ["VerifiableCredential", TYPE], "issuer": UNI_ID,
             "validFrom": "2026-03-02T09:00:00Z",
             "credentialSubject": {"id": ADA, "result": {"value": "81.5"}}}
    ledger.commit(
        issue("sql-retaken", UNI, achievement_credential(*uni, SQL, number=11, result="75")),
        issue("sql-signed", UNI, signed),
        issue("statistics-noholder", UNI, no_holder),
        issue("statistics-future", UNI, achievement_credential(
            *uni, STATISTICS, number=13, valid_from="2027-01-01T00:00:00Z")),
        issue("statistics-mixed", UNI, result(achievement_credential(
            *uni, STATISTICS, number=14), " 7.25 ", 91.5, "A", True)),
        issue("sql-70", UNI, result(achievement_credential(*uni, SQL, number=15), 70)),
        issue("sql-70.0", UNI, result(achievement_credential(*uni, SQL, number=17),
                                      "70.0", "+.5", "-3", "85%")),
        issue("typed", UNI, typed),
        ledger.sign(IssuerRegister(GUILD.did, "Analyst Guild", GUILD.public_key, (GUILD_ID,)),
                    GOVERNANCE))

    onet = {"targetFramework": "O*NET", "targetCode": "2.B.3.e", "targetName": "Programming",
            "targetUrl": "https://www.onetonline.org/find/descriptor/result/2.B.3.e"}
    esco = {"targetFramework": "ESCO", "targetCode": "2521",
            "targetName": "Database designers and administrators",
            "targetUrl": "http://data.europa.eu/esco/isco/C2521"}
    standard = data_analyst_definition()["requirements"]
    definitions = [
        (UNI, {**data_analyst_definition(pathway_id=TYPES, rule={"at_least": 2},
                                         max_span_days=None),
               "requirements": [_requirement(UNI_ID, "OpenBadgeCredential", None, [onet]),
                                _requirement(COLLEGE_ID, "OpenBadgeCredential", None, [esco]),
                                _requirement(UNI.did, SQL, 70.5, [onet, esco]),
                                _requirement(UNI_ID, TYPE, 80, [onet])]}),
        (UNI, {**data_analyst_definition(pathway_id=TWICE),
               "requirements": [requirement(UNI_ID, SQL, 60), requirement(UNI_ID, SQL),
                                requirement(UNI_ID, STATISTICS)]}),
        (UNI, data_analyst_definition(pathway_id=TWO_WITHIN_30, rule={"at_least": 2},
                                      max_span_days=30)),
        (UNI, {**data_analyst_definition(pathway_id=FRACTIONS, max_span_days=None),
               "requirements": [requirement(UNI_ID, SQL, 88.0),
                                requirement(UNI_ID, STATISTICS, 91.5),
                                requirement(COLLEGE_ID, VISUALISATION, 0)]}),
        (GUILD, {**data_analyst_definition(pathway_id=GUILD_PATHWAY, rule={"at_least": 1}),
                 "name": "Guild Analyst", "requirements": standard}),
    ]
    events = [define(owner, definition) for owner, definition in definitions]
    for name, edit in _malformed():
        document = copy.deepcopy(data_analyst_definition(pathway_id=PATHWAY_ID + "/m-" + name))
        edit(document)
        events.append(define(UNI, document, PATHWAY_ID + "/m-" + name))
    ledger.commit(*events)
    ledger.commit(ledger.sign(IssuerUpdate(GUILD.did, "Analysts' Guild", (GUILD_ID,)),
                              GOVERNANCE))
    ledger.commit(ledger.sign(IssuerRetire(GUILD.did), GUILD))


@dataclasses.dataclass
class Lab:
    """The extended world as texts: what the page and verify_pathway both read."""

    world: World
    trust: Any
    trust_text: str
    now: int
    pathways: dict[str, str]
    pairs: dict[str, tuple[str, str]]

    def expected(self, case: Case) -> dict[str, object]:
        options = case["options"]
        verdict = verify_pathway(
            case["pathway"].encode(),
            [(b.encode(), c.encode()) for b, c in case["pairs"]], self.trust,
            now=options.get("now"), max_age=options.get("maxAge", TRUST_POLICY),
            holder=options.get("holder"), expected_owner=options.get("expectedOwner"),
            labels=options.get("labels"))
        return verdict.as_json()


def _swapped(bundle: Any, world: World, index: int) -> Any:
    """The bundle with its event replaced by the log leaf at ``index`` (proven)."""
    ledger = world.ledger.ledger
    note = bundle.event_proof.checkpoint_note
    size = bundle.event_proof.checkpoint().tree_size
    proof = parse_tlog_proof(format_tlog_proof(index, ledger.inclusion_proof(index, size), note))
    return dataclasses.replace(bundle, event=ledger.leaf(index), event_proof=proof)


def _index_of(world: World, predicate: Callable[[Any], bool]) -> int:
    ledger = world.ledger.ledger
    return next(i for i in range(ledger.head.tree_size) if predicate(decode_leaf(ledger.leaf(i))))


def build_lab(directory: Path) -> Lab:
    world = build_world(directory)
    _extend(world)
    before = world.sizes["before v2"]

    def text(bundle: PathwayBundle) -> str:
        return format_pathway_bundle(bundle)

    evil = world.pathway(EVIL)
    pathways = {
        "v1": text(world.pathway(UNI, tree_size=before)),
        "v2": text(world.pathway(UNI)),
        "v1-superseded": text(world.pathway(UNI, version=1)),
        "v1-stale": text(world.pathway(UNI, tree_size=world.sizes["old"])),
        "at-least": text(world.pathway(UNI, AT_LEAST)),
        "within-30": text(world.pathway(UNI, WITHIN_30)),
        "retired": text(world.pathway(UNI, RETIRED)),
        "college-voided": text(world.pathway(COLLEGE, COLLEGE_PATHWAY)),
        "evil": text(evil),
        "evil-relabelled": text(dataclasses.replace(evil, owner=UNI.did)),
        "types": text(world.pathway(UNI, TYPES)),
        "twice": text(world.pathway(UNI, TWICE)),
        "two-within-30": text(world.pathway(UNI, TWO_WITHIN_30)),
        "fractions": text(world.pathway(UNI, FRACTIONS)),
        "guild": text(world.pathway(GUILD, GUILD_PATHWAY)),
    }
    for name in MALFORMED:
        pathways[f"m-{name}"] = text(world.pathway(UNI, PATHWAY_ID + "/m-" + name))
    main = world.pathway(UNI)
    kinds: dict[str, Callable[[Any], bool]] = {
        "credential.issue": lambda leaf: isinstance(leaf, SignedEvent)
        and isinstance(leaf.payload, CredentialIssue),
        "pathway.retire": lambda leaf: isinstance(leaf, SignedEvent)
        and isinstance(leaf.payload, PathwayRetire),
        "header": lambda leaf: isinstance(leaf, BlockHeader),
    }
    for kind, predicate in kinds.items():
        pathways[f"event-{kind}"] = text(_swapped(main, world, _index_of(world, predicate)))

    pairs: dict[str, tuple[str, str]] = {}
    for name in world.files:
        bundle, file = world.credential(name)
        pairs[name] = (format_bundle(bundle), file.decode())
    stale, _ = world.credential("sql", tree_size=world.sizes["old"])
    pairs["sql@old"] = (format_bundle(stale), pairs["sql"][1])
    pairs["visualisation/evil-file"] = (pairs["visualisation"][0],
                                        pairs["visualisation-evil"][1])
    sql_bundle, _ = world.credential("sql")
    define_index = main.event_proof.index
    pairs["sql/define-event"] = (format_bundle(_swapped(sql_bundle, world, define_index)),
                                 pairs["sql"][1])
    trust = world.trust
    return Lab(world, trust, format_trust(trust), world.now, pathways, pairs)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    built = build_lab(tmp_path_factory.mktemp("pathway-lab"))
    yield built
    built.world.ledger.close()


# -- the cases ----------------------------------------------------------------------------------


def _case(lab: Lab, name: str, pathway: str, credentials: list[str] | None = None,
          **options: Any) -> Case:
    return {"name": name, "pathway": lab.pathways.get(pathway, pathway),
            "pairs": [lab.pairs[c] for c in credentials or []],
            "options": {"now": lab.now, **{k: v for k, v in options.items()
                                           if v is not None or k == "maxAge"}}}


COMPLETE = ["sql", "statistics", "visualisation"]


def scenario_cases(lab: Lab) -> list[Case]:
    """Issue 15's scenarios, each once: complete, incomplete for every reason, the rules,
    the versions, the owners."""
    c = lambda name, pathway, credentials=None, **o: _case(  # noqa: E731
        lab, f"scenario/{name}", pathway, credentials, **o)
    return [
        c("complete", "v1", COMPLETE),
        c("complete-v2", "v2", COMPLETE),
        c("complete-labelled", "v1", COMPLETE, labels=["sql.json", "stats.json", "vis.json"]),
        c("order-and-extras", "v1", ["visualisation", "sql-low", "statistics-bob", "sql",
                                     "statistics"], holder=ADA),
        c("missing", "v1", ["sql", "visualisation"]),
        c("nothing", "v1", []),
        c("revoked", "v1", ["sql-revoked", "statistics", "visualisation"]),
        c("stale-badge", "v1", ["sql@old", "statistics", "visualisation"]),
        c("expired", "v1", ["sql", "statistics-expired", "visualisation"]),
        c("not-yet-valid", "v1", ["sql", "statistics-future", "visualisation"]),
        c("wrong-issuer", "v1", ["sql", "statistics", "visualisation-evil"]),
        c("other-holder", "v1", ["sql", "statistics-bob", "visualisation"]),
        c("holder-given", "v1", COMPLETE, holder=BOB),
        c("no-holder", "v1", ["sql", "statistics-noholder", "visualisation"]),
        c("below-min", "v1", ["sql-low", "statistics", "visualisation"]),
        c("invalid-badge", "v1", ["sql", "statistics", "visualisation/evil-file"]),
        c("define-event-as-badge", "v1", ["sql/define-event", "statistics", "visualisation"]),
        c("signed-badge", "v1", ["sql-signed", "statistics", "visualisation"]),
        c("at-least-two", "at-least", ["sql", "visualisation"]),
        c("at-least-one", "at-least", ["sql", "statistics-expired"]),
        c("at-least-three", "at-least", COMPLETE),
        c("span-late", "within-30", ["sql", "statistics", "visualisation-late"]),
        c("span-fits", "within-30", COMPLETE),
        c("span-both", "within-30", ["visualisation-late", "sql", "statistics",
                                     "visualisation"]),
        c("span-retaken", "within-30", ["sql", "statistics", "visualisation-late",
                                        "sql-retaken"]),
        c("span-ledger-dates", "v1", ["sql", "statistics", "visualisation-late"]),
        c("two-within-30", "two-within-30", ["sql", "visualisation-late", "sql-retaken"]),
        c("two-within-30-apart", "two-within-30", ["statistics", "visualisation-late"]),
        c("superseded", "v1-superseded", COMPLETE),
        c("pathway-stale", "v1-stale", COMPLETE),
        c("pathway-stale-unbounded", "v1-stale", COMPLETE, maxAge=None),
        c("pathway-stale-60s", "v1", COMPLETE, maxAge=60),
        c("no-clock", "v1", COMPLETE, now=None),
        c("years-later", "v1", COMPLETE, now=lab.now + 3 * 365 * 86400, maxAge=None),
        c("retired", "retired", ["sql"]),
        c("college-voided", "college-voided", COMPLETE),
        c("non-owner", "evil", COMPLETE),
        c("non-owner-relabelled", "evil-relabelled", ["sql"]),
        c("owner-pinned-evil", "v1", ["sql"], expectedOwner="https://evil.example/issuers/1"),
        c("owner-pinned-id", "v1", COMPLETE, expectedOwner=UNI_ID),
        c("owner-pinned-did", "v1", COMPLETE, expectedOwner=UNI.did),
        c("by-type", "types", ["typed", "visualisation", "sql"]),
        c("by-type-did-issuer", "types", ["sql-signed", "statistics-mixed"]),
        c("twice", "twice", ["sql", "sql-low", "statistics"]),
        c("twice-same-file", "twice", ["sql", "sql", "statistics"]),
        c("twice-one", "twice", ["sql", "statistics"]),
        c("fractions", "fractions", ["sql", "statistics-mixed", "visualisation"]),
        c("fractions-short", "fractions", ["sql-low", "statistics", "sql-70.0"]),
        c("guild-renamed-retired", "guild", ["statistics"]),
        c("event-credential.issue", "event-credential.issue", ["sql"]),
        c("event-pathway.retire", "event-pathway.retire", ["sql"]),
        c("event-header", "event-header", ["sql"]),
        *(c(f"malformed/{name}", f"m-{name}", COMPLETE) for name in MALFORMED),
    ]


COMBINED = ["v1", "v2", "at-least", "within-30", "types", "twice", "two-within-30",
            "fractions", "guild", "v1-stale", "m-all-of-1"]


def sampled_cases(lab: Lab, per_pathway: int = 110) -> list[Case]:
    """A deterministic random sample: credential sets (repeats and all), holders, clocks,
    age bounds, pinned owners and labels, against every pathway that verifies."""
    rng = random.Random(15)
    names = sorted(lab.pairs)
    cases = []
    for pathway in COMBINED:
        for number in range(per_pathway):
            size = rng.choice([0, 1, 2, 3, 3, 4, 4, 5, 6])
            chosen = [rng.choice(names) for _ in range(size)]
            options: dict[str, Any] = {}
            options["holder"] = rng.choice([None, None, None, ADA, BOB])
            clock = rng.random()
            if clock < 0.08:
                options["now"] = None
            elif clock < 0.16:
                options["now"] = lab.now + 8 * 86400
            if rng.random() < 0.12:
                options["maxAge"] = rng.choice([None, 90, 10**9])
            if rng.random() < 0.08:
                options["expectedOwner"] = rng.choice([UNI_ID, UNI.did, GUILD_ID, COLLEGE_ID])
            if rng.random() < 0.1:
                options["labels"] = [f"badge #{i}" for i in range(size)]
            cases.append(_case(lab, f"sample/{pathway}/{number}", pathway, chosen, **options))
    return cases


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _pieces(document: dict[str, Any]) -> Iterator[tuple[str, Any, bytes, Callable[[bytes], Any]]]:
    def b64(path: tuple[Any, ...]) -> tuple[str, Any, bytes, Callable[[bytes], Any]]:
        holder: Any = document
        for step in path:
            holder = holder[step]
        return (".".join(path), path, _b64(holder),
                lambda data: base64.b64encode(data).decode())

    def hexed(path: tuple[Any, ...]) -> tuple[str, Any, bytes, Callable[[bytes], Any]]:
        holder: Any = document
        for step in path:
            holder = holder[step]
        return ".".join(path), path, bytes.fromhex(holder), bytes.hex

    yield b64(("event",))
    yield b64(("header",))
    for which in ("owner", "pathway"):
        yield b64(("status", which, "value"))
        yield hexed(("status", which, "proof"))
    yield from webcases._tlog_pieces(document, "event_proof")
    yield from webcases._tlog_pieces(document, "header_proof")


def tamper_cases(lab: Lab) -> list[Case]:
    """Every single-byte change (bit 0; bits 0 and 7 of the first four bytes) of every binary
    piece of a pathway bundle: the leaves, both records, both status proofs, the audit
    paths and the cosignature."""
    original = json.loads(lab.pathways["v2"])
    cases = []
    for piece, path, raw, encode in _pieces(original):
        for flip, data in webcases._flips(raw):
            document = copy.deepcopy(original)
            webcases._set(document, path, encode(data))
            cases.append(_case(lab, f"tamper/{piece}/{flip // 256}^{flip % 256:#x}",
                               json.dumps(document, indent=2), ["sql"]))
    return cases


def _respelled(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def shape_cases(lab: Lab) -> list[Case]:
    """The pathway bundle's members removed, retyped and stretched; the definition edited,
    its numbers respelled (the same RFC 8785 digest, another type); hostile documents; and
    truncations of the text."""
    text = lab.pathways["v2"]
    document = json.loads(text)
    variants: list[tuple[str, str]] = []

    def add(name: str, value: dict[str, Any] | str) -> None:
        variants.append((name, value if isinstance(value, str) else json.dumps(value, indent=2)))

    for member in list(document):
        add(f"drop-{member}", {k: v for k, v in document.items() if k != member})
        for label, value in (("null", None), ("int", 7), ("float", 1.5), ("true", True),
                             ("text", "x"), ("list", []), ("object", {})):
            add(f"{member}-{label}", {**document, member: value})
    for member in list(document["definition"]):
        add(f"definition-drop-{member}",
            {**document, "definition": {k: v for k, v in document["definition"].items()
                                        if k != member}})
        add(f"definition-{member}-null", {**document,
                                          "definition": {**document["definition"], member: None}})
    for which in ("owner", "pathway"):
        entry = document["status"][which]
        add(f"status-{which}-null", {**document, "status": {**document["status"],
                                                            which: {**entry, "value": None}}})
        add(f"status-{which}-extra", {**document, "status": {**document["status"],
                                                             which: {**entry, "x": 1}}})
        add(f"status-{which}-proof-upper", {**document, "status": {
            **document["status"], which: {**entry, "proof": entry["proof"].upper()}}})
        add(f"status-{which}-value-bad", {**document, "status": {
            **document["status"], which: {**entry, "value": entry["value"][:-2] + "!="}}})
    add("status-swapped", {**document, "status": {"owner": document["status"]["pathway"],
                                                  "pathway": document["status"]["owner"]}})
    add("status-missing-pathway", {**document,
                                   "status": {"owner": document["status"]["owner"]}})
    add("extra", {**document, "zz": 1})
    add("format-v2", {**document, "format": "vcledger-bundle/v2"})
    add("origin-other", {**document, "origin": "vcledger.example/other"})
    add("origin-long", {**document, "origin": "o" * 256})
    add("owner-not-did", {**document, "owner": "did:web:uni.example"})
    add("owner-bad-b58", {**document, "owner": document["owner"][:-1] + "0"})
    add("owner-college", {**document, "owner": COLLEGE.did})
    add("pathway-id-http", {**document, "pathway_id": "http://uni.example/p"})
    add("pathway-id-long", {**document, "pathway_id": "https://uni.example/" + "p" * 300})
    add("pathway-id-other", {**document, "pathway_id": AT_LEAST})
    add("event-bad-b64", {**document, "event": document["event"][:-2] + "!="})
    add("event-noncanonical", {**document, "event": "AB=="})
    add("header-is-event", {**document, "header": document["event"]})
    add("event-is-header", {**document, "event": document["header"]})
    add("event-proof-extra", {**document, "event_proof": document["event_proof"].replace(
        "\nindex", "\nextra AA==\nindex", 1)})
    add("header-proof-other-note", {**document, "header_proof": json.loads(
        lab.pathways["v1"])["header_proof"]})
    add("cosignature-renamed", {**document, "event_proof": document["event_proof"].replace(
        "\n\u2014 ", "\n\u2014 x", 1)})
    definition = document["definition"]
    edits = {
        "min-50": lambda d: d["requirements"][0].update(min_result=50),
        "one-requirement": lambda d: d.update(requirements=d["requirements"][:1]),
        "name": lambda d: d.update(name="Data Analyst Expert"),
        "version-1": lambda d: d.update(version=1),
        "extra": lambda d: d.update(zz=[1, 2.5, "é", None, True]),
        "deep": lambda d: d.update(x=json.loads("[" * 600 + "]" * 600)),
        "not-object": lambda d: d.clear(),
    }
    for name, edit in edits.items():
        changed = copy.deepcopy(definition)
        edit(changed)
        add(f"definition-{name}", {**document, "definition": changed or []})
    # Same digest, other spellings: 730 as 730.0 or 7.3e2 is a float to the schema.
    for old, new in (('"max_span_days": 730', '"max_span_days": 730.0'),
                     ('"max_span_days": 730', '"max_span_days": 7.3e2'),
                     ('"version": 2', '"version": 2.0'),
                     ('"version": 2', '"version": 2E0'),
                     ('"min_result": 70', '"min_result": 70.0'),
                     ('"min_result": 70', '"min_result": 7e1'),
                     ('"min_result": 70', '"min_result": 70.5'),
                     ('"min_result": 70', '"min_result": 70.00000000000000001'),
                     ('"min_result": 70', '"min_result": 1e400'),
                     ('"min_result": 70', '"min_result": ' + "7" * 4301),
                     ('"min_result": 70', '"min_result": 12345678901234567890'),
                     ('"min_result": 70', '"min_result": -0.0'),
                     ('"min_result": 70', '"min_result": NaN'),
                     ('"name": "Data', '"name": "\\ud800Data'),
                     ('"name": "Data', '"\\udc00": 1, "name": "Data'),
                     ('"name": "Data', '"name": "Data", "name": "Data')):
        add(f"respelled/{new}"[:80], _respelled(text, old, new))
    add("version-huge-int", _respelled(text, '"version": 2', '"version": 1' + "0" * 30))
    for cut in range(0, len(text), max(1, len(text) // 40)):
        add(f"cut{cut}", text[:cut])
    add("bom", "\ufeff" + text)
    add("big", text + " " * (256 * 1024))
    return [_case(lab, f"shape/{name}", value, ["sql"]) for name, value in variants]


def all_cases(lab: Lab) -> list[Case]:
    return scenario_cases(lab) + sampled_cases(lab) + tamper_cases(lab) + shape_cases(lab)


# -- the same verdicts as Python ------------------------------------------------------------------

VERIFY_PATHWAYS = """([texts, cases]) => window.vcledger.verifyPathwayMany(cases.map((c) => ({
    pathway: texts[c.pathway],
    pairs: c.pairs.map(([bundle, credential]) => ({
        bundle: texts[bundle], credential: texts[credential]})),
    trust: texts[c.trust], options: c.options})))"""
"""Each text travels once per call: the cases name them by number."""


def _packed(chunk: list[Case], trust_text: str) -> tuple[list[str], list[dict[str, Any]]]:
    texts: list[str] = []
    numbers: dict[str, int] = {}

    def number(text: str) -> int:
        if text not in numbers:
            numbers[text] = len(texts)
            texts.append(text)
        return numbers[text]

    packed = [{"pathway": number(case["pathway"]), "trust": number(trust_text),
               "pairs": [[number(b), number(c)] for b, c in case["pairs"]],
               "options": case["options"]} for case in chunk]
    return texts, packed


def compare(page: Any, lab: Lab, cases: list[Case]) -> tuple[list[Any], list[dict[str, Any]]]:
    differences = []
    verdicts = []
    for start in range(0, len(cases), BATCH):
        chunk = cases[start:start + BATCH]
        got = page.evaluate(VERIFY_PATHWAYS, list(_packed(chunk, lab.trust_text)))
        for case, verdict in zip(chunk, got, strict=True):
            want = lab.expected(case)
            verdicts.append(want)
            if verdict != want:
                differences.append((case["name"], want, verdict))
    return differences, verdicts


def _report(differences: list[Any]) -> str:
    return "\n".join(f"{name}:\n  python:  {json.dumps(want)}\n  browser: {json.dumps(got)}"
                     for name, want, got in differences[:4]) + f"\n({len(differences)} differ)"


def test_browser_pathway_verdicts_equal_python_on_every_case(page: Any, lab: Lab) -> None:
    cases = all_cases(lab)
    assert len(cases) > 2500
    assert len({case["name"] for case in cases}) == len(cases), "case names are unique"
    page.goto(_file_url(WEB / "index.html"))
    differences, verdicts = compare(page, lab, cases)
    assert not differences, _report(differences)
    print(f"{len(cases)} pathway cases, browser == Python on all")
    # The set covers every verdict, every reason and every step.
    assert {v["status"] for v in verdicts} == {"complete", "incomplete", "invalid"}
    reasons = {r["reason"] for v in verdicts for r in v["requirements"]}
    assert reasons == {None, "missing", "wrong_issuer", "invalid", "revoked", "expired",
                       "not_yet_valid", "stale", "other_holder", "no_holder",
                       "below_min_result", "outside_span", "used_elsewhere"}
    assert {v["step"] for v in verdicts} == {None, *range(1, 10)}
    assert {v["pathway"]["status"] for v in verdicts} == {"valid", "stale", "invalid"}
    assert all(url.startswith("file:") for url in page.network_requests), "it went online"


def test_definition_documents_alone_equal_client_pathway(page: Any) -> None:
    """parse_definition against the page's parseDefinition: every malformed definition above,
    and more, as files: the same error or the same digest and rule."""
    texts: list[str] = []
    for _, edit in _malformed():
        document = copy.deepcopy(data_analyst_definition())
        edit(document)
        texts.append(json.dumps(document))
    good = json.dumps(data_analyst_definition(owner=UNI.did))
    texts += [good, "[]", "1", "", "{", '{"id": 1, "id": 2}', "\ufeff{}", " " * 70000,
              good.replace('"version": 1', '"version": 1.0'),
              good.replace('"version": 1', '"version": 1e400'),
              good.replace('"min_result": 70', '"min_result": 0.1'),
              good.replace('"min_result": 70', '"min_result": 0.10000000000000001'),
              good.replace('"all_of": true', '"all_of": 1.0'),
              good.replace('"all_of": true', '"all_of": 1e0'),
              good.replace('"all_of": true', '"all_of": 0.1e1')]
    page.goto(_file_url(WEB / "index.html"))
    got = page.evaluate("""async (texts) => {
        const out = [];
        for (const text of texts) {
            try {
                const d = await window.vcledger.pathway.parseDefinition(
                    new TextEncoder().encode(text));
                const hex = Array.from(d.digest, (b) => b.toString(16).padStart(2, '0')).join('');
                out.push({digest: hex, needed: d.model.needed, name: d.model.name});
            } catch (exc) { out.push({error: exc.diagnostics()}); }
        }
        return out;
    }""", texts)
    want = []
    for text in texts:
        try:
            parsed = parse_definition(text.encode())
            want.append({"digest": parsed.digest.hex(), "needed": parsed.model.needed,
                         "name": parsed.model.name})
        except LedgerError as exc:
            want.append({"error": exc.diagnostics()})
    differences = [(text[:60], w, g) for text, w, g in zip(texts, want, got, strict=True)
                   if w != g]
    assert not differences, _report(differences)
    assert sum("error" in w for w in want) > 40


def test_script_api_refuses_what_python_refuses(page: Any, lab: Lab) -> None:
    page.goto(_file_url(WEB / "index.html"))
    errors = page.evaluate("""async ([pathway, trust]) => {
        const out = [];
        for (const call of [
            () => window.vcledger.verifyPathway(pathway, [], trust, {labels: ['x']}),
            () => window.vcledger.verifyPathway(pathway, [], '{"origin": "x"}', {}),
            () => window.vcledger.verifyPathway(pathway, [], trust, {now: 1.5}),
        ]) {
            try { await call(); out.push(null); } catch (e) { out.push(e.diagnostics()); }
        }
        return out;
    }""", [lab.pathways["v1"], lab.trust_text])
    assert errors[0] == "give one label per credential"
    assert errors[1].startswith("trust file: threshold: Field required")
    assert errors[2] == "now must be a whole number of seconds"


# -- the page's pathway mode, as a person uses it -------------------------------------------------


FILE_NAMES = {"sql": "sql-for-data-analysis", "statistics": "applied-statistics",
              "visualisation": "data-visualisation"}
"""The file names of the walk-through in docs/pathways.md."""


def _write(lab: Lab, directory: Path, pathway: str, names: list[str]) -> dict[str, Any]:
    files: dict[str, Any] = {"pathway": directory / "data-analyst-professional.pathway.json",
                             "trust": directory / "trust.json", "credentials": [],
                             "bundles": []}
    files["pathway"].write_text(lab.pathways[pathway])
    files["trust"].write_text(lab.trust_text)
    for name in names:
        stem = FILE_NAMES.get(name, name.replace("/", "-").replace("@", "-"))
        bundle, credential = lab.pairs[name]
        (directory / f"{stem}.bundle.json").write_text(bundle)
        (directory / f"{stem}.json").write_text(credential)
        files["credentials"].append(directory / f"{stem}.json")
        files["bundles"].append(directory / f"{stem}.bundle.json")
    return files


def _check_pathway(page: Any, files: dict[str, Any], now: int, *, trust: bool = True) -> None:
    page.clock.set_fixed_time(dt.datetime.fromtimestamp(now, dt.UTC))
    page.click("#mode-pathway")
    page.set_input_files("#file-pathway", str(files["pathway"]))
    # The bundles in another order than the credentials: the page pairs them by digest.
    page.set_input_files("#file-pieces", [str(p) for p in [*reversed(files["bundles"]),
                                                            *files["credentials"]]])
    if trust:
        page.set_input_files("#file-ptrust", str(files["trust"]))
    page.click("#check-pathway")
    page.wait_for_selector("#result .headline")


def test_page_shows_a_complete_pathway(page: Any, lab: Lab, tmp_path: Path) -> None:
    page.route("http*://**", lambda route: route.abort())
    page.goto(_file_url(WEB / "index.html"))
    files = _write(lab, tmp_path, "v1", COMPLETE)
    _check_pathway(page, files, lab.now)
    assert page.inner_text("#result .headline").endswith("Complete")
    assert page.inner_text(".pathway-name") == "Data Analyst Professional"
    requirements = page.inner_text(".requirements")
    assert requirements.count("met by") == 3, requirements
    assert "sql-for-data-analysis.json" in requirements
    assert "Example Community College" in requirements
    competencies = page.inner_text(".competencies")
    assert "O*NET 2.B.3.e" in competencies and "Programming" in competencies
    assert "ESCO 2120" in competencies
    assert "3 of 3" in page.inner_text(".facts")
    assert all(url.startswith("file:") for url in page.network_requests)
    target = (SCREENSHOT if os.environ.get("VCLEDGER_SCREENSHOTS") == "1"
              else tmp_path / SCREENSHOT.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1000, "height": 600})
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000


def test_page_says_why_a_requirement_is_not_met(page: Any, lab: Lab,
                                                tmp_path: Path) -> None:
    page.goto(_file_url(WEB / "index.html"))
    files = _write(lab, tmp_path, "v1", ["sql-revoked", "statistics-bob", "visualisation"])
    _check_pathway(page, files, lab.now)
    assert page.inner_text("#result .headline").endswith("Incomplete")
    requirements = page.inner_text(".requirements")
    assert "NOT met (revoked)" in requirements and "NOT met (other holder)" in requirements
    assert "met by data-visualisation.json" in requirements
    assert "sql-revoked.json is revoked on" in requirements


def test_page_refuses_a_superseded_pathway(page: Any, lab: Lab, tmp_path: Path) -> None:
    page.goto(_file_url(WEB / "index.html"))
    files = _write(lab, tmp_path, "v1-superseded", COMPLETE)
    _check_pathway(page, files, lab.now)
    assert page.inner_text("#result .headline").endswith("Not valid")
    failure = page.inner_text(".failure")
    assert "Check 9 of 9 failed (pathway status)" in failure
    assert "superseded: version 1 was replaced by version 2" in failure


def test_page_lists_files_it_cannot_pair(page: Any, lab: Lab, tmp_path: Path) -> None:
    page.goto(_file_url(WEB / "index.html"))
    files = _write(lab, tmp_path, "v1", COMPLETE)
    files["bundles"] = files["bundles"][:-1]  # visualisation's bundle left out
    _check_pathway(page, files, lab.now)
    assert "data-visualisation.json: no bundle" in page.inner_text("#pairs")
    assert page.inner_text("#result .headline").endswith("Incomplete")


def test_served_page_checks_a_pathway_with_its_trust_file(page: Any, lab: Lab,
                                                          tmp_path: Path) -> None:
    """As GET /verify serves it (the trust file built in, its Content-Security-Policy): the
    pathway mode works and breaks none of the policy's rules."""
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    with test_browser.serving_page(*verify_page(lab.trust_text)) as port:
        page.goto(f"http://127.0.0.1:{port}/verify")
        page.click("#mode-pathway")
        assert "built in: network" in page.inner_text("#chosen-ptrust")
        _check_pathway(page, _write(lab, tmp_path, "v1", COMPLETE), lab.now, trust=False)
        assert page.inner_text("#result .headline").endswith("Complete")
    assert not [line for line in console if "Content Security Policy" in line], console
