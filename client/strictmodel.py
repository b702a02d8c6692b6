"""The one strict pydantic base for documents read from outside, and its error text.

Every JSON document the client or a node accepts (trust files, bundles,
receipts, pathway definitions, checkpoint state, node configs, API request
bodies) is validated by a subclass of :class:`StrictModel`, so they all refuse
the same things: unknown fields, type coercion (``"1"`` for ``1``, ``1`` for
``true``), and mutation after parsing.  :func:`describe_validation_error` turns
pydantic's errors into the one-line text that callers put in their own
:class:`~client.errors.LedgerError`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """Frozen, no extra fields, no coercion.  Subclasses may add settings (``title``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, each naming the field path, for humans."""
    problems = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{location}: {message}")
    return "; ".join(problems)
