"""Open Badges 3.0 ``AchievementCredential`` documents and a pathway definition built on them.

The scenario of issue 15: three data-science badges from two issuers (a university and
a college) stack into one "Data Analyst Professional" track.  Achievements align to
competency frameworks as Open Badges 3.0 ``Alignment`` entries: O*NET content-model
elements (``2.B.3.e`` Programming, ``2.C.4.a`` Mathematics, ``4.A.2.a.4`` Analyzing Data
or Information) and ESCO's ISCO-08 groups (``2521`` Database designers and
administrators, ``2120`` Mathematicians, actuaries and statisticians).
"""

from __future__ import annotations

from typing import Any

OB3_CONTEXT = ["https://www.w3.org/ns/credentials/v2",
               "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]

UNI_ID = "https://uni.example/issuers/1"
COLLEGE_ID = "https://college.example/issuers/7"

SQL = "https://uni.example/achievements/sql-for-data-analysis"
STATISTICS = "https://uni.example/achievements/applied-statistics"
VISUALISATION = "https://college.example/achievements/data-visualisation"
PATHWAY_ID = "https://uni.example/pathways/data-analyst-professional"

ONET_PROGRAMMING = {"targetFramework": "O*NET", "targetCode": "2.B.3.e",
                    "targetName": "Programming",
                    "targetUrl": "https://www.onetonline.org/find/descriptor/result/2.B.3.e"}
ESCO_DATABASES = {"targetFramework": "ESCO", "targetCode": "2521",
                  "targetName": "Database designers and administrators",
                  "targetUrl": "http://data.europa.eu/esco/isco/C2521"}
ONET_MATHEMATICS = {"targetFramework": "O*NET", "targetCode": "2.C.4.a",
                    "targetName": "Mathematics",
                    "targetUrl": "https://www.onetonline.org/find/descriptor/result/2.C.4.a"}
ESCO_STATISTICIANS = {"targetFramework": "ESCO", "targetCode": "2120",
                      "targetName": "Mathematicians, actuaries and statisticians",
                      "targetUrl": "http://data.europa.eu/esco/isco/C2120"}
ONET_ANALYZING = {"targetFramework": "O*NET", "targetCode": "4.A.2.a.4",
                  "targetName": "Analyzing Data or Information",
                  "targetUrl": "https://www.onetonline.org/find/descriptor/result/4.A.2.a.4"}

ACHIEVEMENTS: dict[str, dict[str, Any]] = {
    SQL: {"name": "SQL for Data Analysis", "criteria": "Pass the proctored SQL exam.",
          "alignment": [ONET_PROGRAMMING, ESCO_DATABASES]},
    STATISTICS: {"name": "Applied Statistics", "criteria": "Complete the statistics project.",
                 "alignment": [ONET_MATHEMATICS, ESCO_STATISTICIANS]},
    VISUALISATION: {"name": "Data Visualisation", "criteria": "Publish a dashboard.",
                    "alignment": [ONET_ANALYZING]},
}


def achievement_credential(issuer_id: str, issuer_name: str, achievement_id: str, *,
                           learner: str = "did:example:learner-ada", number: int = 1,
                           valid_from: str = "2026-03-02T09:00:00Z",
                           valid_until: str | None = None,
                           result: str | None = None) -> dict[str, Any]:
    """An Open Badges 3.0 AchievementCredential (VC 2.0) for ``learner``."""
    achievement = ACHIEVEMENTS[achievement_id]
    subject: dict[str, Any] = {
        "id": learner,
        "type": ["AchievementSubject"],
        "achievement": {
            "id": achievement_id,
            "type": ["Achievement"],
            "achievementType": "Badge",
            "name": achievement["name"],
            "description": f"{achievement['name']}, a micro-credential of {issuer_name}.",
            "criteria": {"narrative": achievement["criteria"]},
            "alignment": [{"type": ["Alignment"], **a} for a in achievement["alignment"]],
        },
    }
    if result is not None:
        subject["result"] = [{"type": ["Result"], "value": result}]
    credential: dict[str, Any] = {
        "@context": OB3_CONTEXT,
        "id": f"urn:uuid:2f0c6c5e-1d7a-4b8e-9c1a-{number:012d}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": issuer_id, "type": ["Profile"], "name": issuer_name},
        "validFrom": valid_from,
        "name": achievement["name"],
        "credentialSubject": subject,
    }
    if valid_until is not None:
        credential["validUntil"] = valid_until
    return credential


def requirement(issuer: str, achievement_id: str, min_result: float | None = None
                ) -> dict[str, Any]:
    return {"issuer": issuer, "achievement": achievement_id, "min_result": min_result,
            "alignment": ACHIEVEMENTS[achievement_id]["alignment"]}


def data_analyst_definition(*, version: int = 1, owner: str | None = None,
                            rule: dict[str, Any] | None = None,
                            max_span_days: int | None = 730,
                            pathway_id: str = PATHWAY_ID) -> dict[str, Any]:
    """The "Data Analyst Professional" track: SQL (at least 70) and statistics from the
    university, data visualisation from the college."""
    definition: dict[str, Any] = {
        "id": pathway_id,
        "name": "Data Analyst Professional",
        "version": version,
        "rule": rule or {"all_of": True},
        "max_span_days": max_span_days,
        "requirements": [requirement(UNI_ID, SQL, 70), requirement(UNI_ID, STATISTICS),
                         requirement(COLLEGE_ID, VISUALISATION)],
    }
    if owner is not None:
        definition["owner"] = owner
    return definition
