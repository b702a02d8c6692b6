"""Credentials against a pathway's definition: which one meets which requirement.

:mod:`client.pathway_verify` proves the definition and verifies every presented
credential; :func:`evaluate_pathway` then decides, from those verdicts alone,
which credential is counted for which requirement (each at most once: a largest
matching, inside the definition's maximum span when it has one), why each
unmet requirement is unmet, and whether the rule holds (docs/pathways.md).
Nothing here verifies a proof or reads a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from client.pathway import AllOf, Requirement
from client.pathway_verdict import (
    CompetencyInfo,
    CredentialOutcome,
    PathwayBundleVerdict,
    PathwayStatusName,
    PathwayVerdict,
    RequirementOutcome,
    RequirementReason,
    result_number,
)
from client.verdict import format_date

__all__ = ["DAY_MS", "evaluate_pathway"]

DAY_MS = 86_400_000


def _maximum_matching(eligible: Sequence[Sequence[int]], allowed: set[int] | None
                      ) -> dict[int, int]:
    """A largest assignment of requirements to distinct credentials (Kuhn's augmenting
    paths; requirements and credentials in their given order, so it is deterministic).
    ``eligible[r]`` lists the credentials that may meet requirement ``r``."""
    owner_of: dict[int, int] = {}  # credential -> requirement

    def assign(requirement: int, seen: set[int]) -> bool:
        for candidate in eligible[requirement]:
            if (allowed is not None and candidate not in allowed) or candidate in seen:
                continue
            seen.add(candidate)
            if candidate not in owner_of or assign(owner_of[candidate], seen):
                owner_of[candidate] = requirement
                return True
        return False

    for requirement in range(len(eligible)):
        assign(requirement, set())
    return {requirement: credential for credential, requirement in owner_of.items()}



def evaluate_pathway(proven: PathwayBundleVerdict, outcomes: Sequence[CredentialOutcome],
                     holder: str | None) -> PathwayVerdict:
    """The pathway's verdict on the presented credentials, given their own verdicts.

    Precondition: ``proven`` is a ``valid`` or ``stale`` pathway bundle verdict (it
    carries the definition).  ``holder`` is the verifier's, or None: then the subject
    of the first credential whose bundle verifies.
    """
    assert proven.definition is not None and proven.pathway is not None
    model = proven.definition.model
    outcomes = list(outcomes)
    holder_from = "given by the verifier"
    if holder is None:
        first = next((c for c in outcomes if c.verdict.status != "invalid"
                      and c.holder is not None), None)
        if first is not None:
            holder, holder_from = first.holder, f"the subject of {first.label}"

    requirements = model.requirements
    eligible: list[list[int]] = []
    for requirement in requirements:
        eligible.append([index for index, c in enumerate(outcomes)
                         if _meets(c, requirement, holder)])
    needed = model.needed
    assignment = _maximum_matching(eligible, None)
    span_ms = None if model.max_span_days is None else model.max_span_days * DAY_MS
    within: bool | None = None
    if span_ms is not None:
        # Every window of the allowed span that starts at a candidate's issuance: the
        # first that holds enough distinct matches wins (so a retaken badge inside the
        # window counts rather than an old one outside it).
        best: dict[int, int] = {}
        candidates = {c for cs in eligible for c in cs}
        for start in sorted({_issued(outcomes[c]) for c in candidates}):
            allowed = {c for c in candidates if start <= _issued(outcomes[c]) <= start + span_ms}
            matched = _maximum_matching(eligible, allowed)
            if len(matched) > len(best):
                best = matched
        within = len(best) >= needed
        if within:
            assignment = best

    issued = [_issued(outcomes[c]) for c in assignment.values()]
    earliest = min(issued) if issued else None
    latest = max(issued) if issued else None
    span_days = None if not issued else round((max(issued) - min(issued)) / DAY_MS, 2)

    for requirement_index, credential_index in assignment.items():
        outcomes[credential_index] = _with_meets(outcomes[credential_index],
                                                 requirement_index + 1)
    results = tuple(
        _requirement_outcome(number, requirement, assignment.get(number - 1), outcomes,
                             holder=holder, span=span_ms is not None)
        for number, requirement in enumerate(requirements, start=1))
    competencies: list[CompetencyInfo] = []
    seen: set[tuple[str, str]] = set()
    for result in results:
        if result.credential is None:
            continue
        for alignment in result.requirement.alignment:
            key = (alignment.targetFramework, alignment.targetCode)
            if key not in seen:
                seen.add(key)
                competencies.append(CompetencyInfo(alignment.targetFramework,
                                                   alignment.targetCode, alignment.targetName,
                                                   alignment.targetUrl, result.number))

    met = len(assignment)
    rule_met = met >= needed and within is not False
    notes = list(proven.notes)
    notes.append("that the person presenting these credentials is their holder was not "
                 "checked (no presentation proof was given): check it as for any credential")
    if any(c.verdict.embedded_proof == "none" for c in outcomes if c.meets is not None):
        notes.append("a counted credential carries no embedded proof: the ledger vouches for "
                     "its digest, not its own signature (see its verdict)")
    pathway_name = f'"{model.name}" (version {model.version} of {model.id})'
    who = holder if holder is not None else "the holder"
    rule = ("all" if isinstance(model.rule, AllOf) else f"at least {needed} of") + \
        f" {len(requirements)} requirements"
    span_text = ""
    if span_days is not None and model.max_span_days is not None:
        span_text = (f", issued {span_days:g} days apart (at most {model.max_span_days} "
                     "allowed)")
    status: PathwayStatusName
    if proven.status == "stale":
        status = "incomplete"
        message = (f"incomplete: the proof of the pathway definition is stale, so whether "
                   f"{pathway_name} is still current is not known ({proven.message}); "
                   f"{met} of {len(requirements)} requirements are met")
    elif rule_met:
        status = "complete"
        message = (f"complete: {who} meets {pathway_name}, defined by "
                   f'"{proven.pathway.owner.name}": {met} of {len(requirements)} requirements '
                   f"met (needs {rule}){span_text}")
    else:
        status = "incomplete"
        if met >= needed:
            assert span_days is not None and model.max_span_days is not None
            why = (f"the credentials counted span {span_days:g} days; the pathway allows "
                   f"{model.max_span_days}")
        else:
            missing = [r for r in results if r.credential is None]
            why = "; ".join(f"requirement {r.number} {r.reason.replace('_', ' ')}"  # type: ignore[union-attr]
                            for r in missing)
        message = (f"incomplete: {who} does not meet {pathway_name}: {met} of "
                   f"{len(requirements)} requirements met, needs {rule}"
                   + ("" if model.max_span_days is None
                      else f" within {model.max_span_days} days") + f" ({why})")
    return PathwayVerdict(
        status=status, message=message, notes=tuple(notes), pathway_bundle=proven,
        holder=holder, holder_from=None if holder is None else holder_from,
        requirements=results, credentials=tuple(outcomes), competencies=tuple(competencies),
        needed=needed, span_days=span_days, earliest_ms=earliest, latest_ms=latest,
        span_within=within if span_ms is not None else None)




def _issued(outcome: CredentialOutcome) -> int:
    """The ledger's issuance time (block time, ms) of a credential whose bundle verified."""
    issued = outcome.verdict.issued_time_ms
    assert issued is not None, "only verified credentials are dated"
    return issued


def _with_meets(outcome: CredentialOutcome, requirement: int) -> CredentialOutcome:
    return CredentialOutcome(outcome.number, outcome.label, outcome.verdict, outcome.holder,
                             outcome.achievements, outcome.result, requirement)


def _result_ok(outcome: CredentialOutcome, requirement: Requirement) -> bool:
    if requirement.min_result is None:
        return True
    least = Decimal(repr(requirement.min_result)) if isinstance(requirement.min_result, float) \
        else Decimal(requirement.min_result)
    return outcome.result is not None and outcome.result >= least


def _meets(outcome: CredentialOutcome, requirement: Requirement, holder: str | None) -> bool:
    return (outcome.verdict.status == "valid" and holder is not None
            and outcome.holder == holder
            and requirement.achievement in outcome.achievements
            and requirement.issuer in outcome.issuer_names
            and _result_ok(outcome, requirement))


def _requirement_outcome(number: int, requirement: Requirement, assigned: int | None,
                         outcomes: Sequence[CredentialOutcome], *, holder: str | None,
                         span: bool) -> RequirementOutcome:
    if assigned is not None:
        credential = outcomes[assigned]
        issuer = credential.verdict.issuer
        assert issuer is not None  # a valid verdict names its issuer
        result = ("" if credential.result is None or requirement.min_result is None
                  else f", result {result_number(credential.result)}")
        return RequirementOutcome(
            number, requirement, credential.number, None,
            f'{credential.label} (issued by "{issuer.name}" on '
            f"{format_date(_issued(credential) // 1000)}{result})")
    candidates = [c for c in outcomes if requirement.achievement in c.achievements]
    ranked: list[tuple[int, RequirementReason, str]] = []
    for c in candidates:
        verdict = c.verdict
        if verdict.status == "invalid":
            ranked.append((7, "invalid", f"{c.label} does not verify ({verdict.message})"))
            continue
        if requirement.issuer not in c.issuer_names:
            ranked.append((6, "wrong_issuer", f"{c.label} is for {requirement.achievement} but "
                           f"was issued by {c.who()}, not by {requirement.issuer}"))
        elif verdict.status in ("revoked", "expired", "not_yet_valid", "stale"):
            rank = {"revoked": 5, "expired": 4, "not_yet_valid": 4, "stale": 3}[verdict.status]
            ranked.append((rank, verdict.status, f"{c.label} is {verdict.message}"))
        elif c.holder is None:
            ranked.append((2, "no_holder", f"{c.label} names no holder (credentialSubject.id)"))
        elif holder is not None and c.holder != holder:
            ranked.append((2, "other_holder", f"{c.label} names holder {c.holder}, not "
                           f"{holder}"))
        elif not _result_ok(c, requirement):
            got = ("no numeric result" if c.result is None
                   else f"a best result of {result_number(c.result)}")
            ranked.append((1, "below_min_result", f"{c.label} has {got}; the requirement "
                           f"needs at least {result_number(requirement.min_result)}"))  # type: ignore[arg-type]
        elif span:
            ranked.append((0, "outside_span", f"{c.label} would meet it, but not within the "
                           "pathway's maximum span together with the others"))
        else:
            ranked.append((0, "used_elsewhere", f"{c.label} would meet it, but it is counted "
                           "for another requirement"))
    if not ranked:
        return RequirementOutcome(number, requirement, None, "missing",
                                  f"no credential presented is for {requirement.achievement}")
    _, reason, message = min(ranked, key=lambda item: item[0])
    return RequirementOutcome(number, requirement, None, reason, message)

