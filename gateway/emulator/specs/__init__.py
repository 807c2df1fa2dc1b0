"""What the providers' published specifications say a request body must be (facts only).

Each ``<provider>.json`` here is our own extract of one provider's machine-readable
specification: the field names, types, enums, lengths and required sets the emulator
needs, written as a JSON Schema (draft 2020-12) document. Its top level says which
document and version it follows (``x-spec``), which operation checks which definition
(``x-operations``), and where we knowingly depart from the specification and why
(``x-overrides``, e.g. where the spec rejects the provider's own published example).
Every definition names the place in the specification it was taken from (``x-source``, a
JSON pointer into the document named by ``x-spec``), so a test can compare the extract
with a copy of the specification and catch a drift.

Rules a specification leaves loose (a phone number's shape, a BSUID in ``to``, a JSON
object that must not be empty) are not here: each simulator writes them by hand, next to
a comment saying that the spec is silent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True, slots=True)
class SpecProblem:
    """The first disagreement between a body and the specification."""

    field: str
    """Dotted path to the offending value (``interactive.action.parameters.flow_cta``)."""
    problem: str
    """The rule broken, in jsonschema's words; ``unexpected key`` for an unknown key."""
    missing: bool
    """A required field is absent."""


@cache
def extract(provider: str) -> dict[str, Any]:
    """The extract for ``provider`` (``gateway/emulator/specs/<provider>.json``)."""
    text = files(__name__).joinpath(f"{provider}.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


@cache
def validator(provider: str, operation: str) -> Draft202012Validator:
    """A compiled validator for one operation's request body (built once)."""
    doc = extract(provider)
    ref = doc["x-operations"][operation]
    schema = {"$schema": SCHEMA_DIALECT, "$defs": doc["$defs"], "$ref": ref}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def check(provider: str, operation: str, body: Any) -> SpecProblem | None:
    """The first way ``body`` breaks ``provider``'s specification for ``operation``."""
    errors = list(validator(provider, operation).iter_errors(body))
    # A misspelled key is both unexpected and missing: name the key sent, as
    # base.Invalid.of does for pydantic models, so the answer points at the typo.
    unexpected = [e for e in errors if e.validator in _UNEXPECTED]
    error = best_match(unexpected or errors)
    return None if error is None else _problem(error)


_UNEXPECTED = ("additionalProperties", "unevaluatedProperties")


def _problem(error: ValidationError) -> SpecProblem:
    path = [str(p) for p in error.absolute_path]
    instance: Any = error.instance
    schema: Any = error.schema
    if error.validator == "required":
        # jsonschema reports at the parent: name the missing key itself.
        required: Any = error.validator_value
        missing = next(k for k in required if k not in instance)
        return SpecProblem(".".join([*path, missing]), "is required", True)
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        extra = sorted(set(instance) - set(schema.get("properties", {})))
        return SpecProblem(".".join([*path, *extra[:1]]), "unexpected key", False)
    return SpecProblem(".".join(path) or "body", error.message, False)
