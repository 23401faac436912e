"""Schemathesis stage 4, judge: which requirement each built-in check's failure breaks, and the
kit's own rules for what an accepted write answers."""

from __future__ import annotations

import json
import unicodedata
from functools import cache
from typing import Any

import schemathesis.checks
from schemathesis import Case, Response
from schemathesis.core.failures import Failure, MalformedJson
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import REQUEST_SHAPE_PROBES, coverage_scenario
from schemathesis.openapi.checks import JsonSchemaError, MissingContentType

from conformance._judge import REQUEST_MEMBERS
from conformance._st_filter import unknown_members_only

# Built-in checks run on every response, in reporting priority: when one response breaks several,
# the first one listed is the failure that stops the example.
STATELESS_CHECKS = (
    "not_a_server_error",
    "negative_data_rejection",
    "positive_data_acceptance",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
)
# use_after_free and ensure_resource_availability look at earlier steps: state machine only. They
# know what the response should have been, so they outrank the checks that only see its shape.
STATEFUL_CHECKS = (
    "not_a_server_error",
    "use_after_free",
    "ensure_resource_availability",
    *STATELESS_CHECKS[1:],
)

# Per operation: the rule a wrong status on a valid request breaks (2xx, then 4xx).
OPERATION_RULES = {
    "GET /books": ("LIST-OK", "LIST-OK"),
    "POST /books": ("CREATE-OK", "CREATE-OK"),
    "GET /books/{book_id}": ("READ-OK", "READ-404"),
    "PUT /books/{book_id}": ("PUT-OK", "PUT-404"),
    "DELETE /books/{book_id}": ("DELETE-OK", "DELETE-404"),
}

# Check -> every requirement ID a failure of it can be filed under (see rule_for_check()).
CHECK_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "not_a_server_error": ("NO-5XX",),
    "negative_data_rejection": ("INVALID-4XX", "PATH-ID", "VAL-UNKNOWN"),
    "positive_data_acceptance": ("LIST-OK", "CREATE-OK", "READ-OK", "PUT-OK", "DELETE-OK"),
    "status_code_conformance": (
        "LIST-OK", "CREATE-OK", "READ-OK", "READ-404", "PUT-OK", "PUT-404", "DELETE-OK",
        "DELETE-404", "INVALID-4XX", "PATH-ID", "VAL-UNKNOWN",
    ),
    "content_type_conformance": ("SUCCESS-JSON", "ERROR-JSON"),
    "response_schema_conformance": ("BOOK-SHAPE", "SUCCESS-JSON", "ERROR-JSON", "READ-404"),
    "response_headers_conformance": ("CREATE-LOCATION",),
    "unsupported_method": ("METHOD-405", "METHOD-4XX"),
    "use_after_free": ("DELETE-GONE", "READ-404"),
    "ensure_resource_availability": ("READ-YOUR-WRITES",),
}  # fmt: skip
# The kit's own rules for every response (BooksClient.check_response).
GLOBAL_REQUIREMENTS = ("NO-5XX", "ERROR-JSON", "SUCCESS-JSON")
# The kit's rules on top of Schemathesis' checks (see Runner.validate) -> what they can blame.
KIT_RULES: dict[str, tuple[str, ...]] = {
    "every response (BooksClient.check_response)": GLOBAL_REQUIREMENTS,
    "a request to a kit book gets its one right status (KIT_BOOK_ANSWERS)": (
        "READ-OK", "READ-404", "PUT-OK", "PUT-404", "DELETE-OK", "DELETE-404",
    ),
    "an accepted POST/PUT answers the book as sent (echo_violations)": (
        "CREATE-OK", "PUT-OK", "PUT-REPLACE", "DATA-EXACT", "VAL-UNKNOWN", "VAL-CLIENT-ID",
    ),
}  # fmt: skip
# What each test can blame: the global rules plus what its checks can see. Unsupported methods are
# probed from the first operation of /books/{book_id} only (the coverage phase attaches them
# there; on /books they would be writes to the collection, which the kit never sends). A DELETE
# has no book in its response. CREATE-LOCATION is left out although response_headers_conformance
# maps to it: Location is optional in the document and any string passes, so a pass here would
# claim a SHOULD the layer cannot see (and turn an expected failure into an unexpected pass).
TEST_REQUIREMENTS: dict[str | None, tuple[str, ...]] = {
    "GET /books": GLOBAL_REQUIREMENTS + ("LIST-OK", "BOOK-SHAPE"),
    "POST /books": GLOBAL_REQUIREMENTS
    + ("CREATE-OK", "INVALID-4XX", "BOOK-SHAPE", "DATA-EXACT", "VAL-UNKNOWN"),
    "GET /books/{book_id}": GLOBAL_REQUIREMENTS
    + ("READ-OK", "READ-404", "PATH-ID", "BOOK-SHAPE", "METHOD-4XX", "METHOD-405"),
    "PUT /books/{book_id}": GLOBAL_REQUIREMENTS
    + ("PUT-OK", "PUT-404", "PUT-REPLACE", "INVALID-4XX", "PATH-ID", "BOOK-SHAPE")
    + ("DATA-EXACT", "VAL-UNKNOWN"),
    "DELETE /books/{book_id}": GLOBAL_REQUIREMENTS + ("DELETE-OK", "DELETE-404", "PATH-ID"),
    None: GLOBAL_REQUIREMENTS
    + ("CREATE-OK", "READ-OK", "READ-404", "PUT-OK", "PUT-404", "PUT-REPLACE", "DELETE-OK")
    + ("DELETE-404", "INVALID-4XX", "BOOK-SHAPE", "DATA-EXACT", "VAL-UNKNOWN", "DELETE-GONE")
    + ("READ-YOUR-WRITES",),
}
# A request to a book the kit owns has one right answer (single-operation tests only).
KIT_BOOK_ANSWERS = {
    ("GET", True): (200, "READ-OK"),
    ("PUT", True): (200, "PUT-OK"),
    ("DELETE", True): (204, "DELETE-OK"),
    ("GET", False): (404, "READ-404"),
    ("PUT", False): (404, "PUT-404"),
    ("DELETE", False): (404, "DELETE-404"),
}


def rule_for_check(check: str, failure: Failure, case: Case[Any], response: Response) -> str:
    """The requirement ID a failure of ``check`` on this response breaks."""
    status = response.status_code
    meta = case.meta
    bad_path = meta is not None and meta.is_negative_at(ParameterLocation.PATH)
    bad_body = meta is not None and meta.is_negative_at(ParameterLocation.BODY)
    ok, missing = OPERATION_RULES.get(case.operation.label, ("NO-5XX", "NO-5XX"))
    if check == "not_a_server_error":
        return "NO-5XX"
    if check == "unsupported_method":
        return "METHOD-405" if 400 <= status < 500 else "METHOD-4XX"
    if check == "use_after_free":  # a read after a DELETE did not get 404
        try:
            served = json.loads(response.content)
        except ValueError:
            served = None
        found = 200 <= status < 300 and isinstance(served, dict) and "id" in served
        return "DELETE-GONE" if found else "READ-404"  # the book is back, or a wrong "missing"
    if check in ("ensure_resource_availability", "response_headers_conformance"):
        return CHECK_REQUIREMENTS[check][0]
    if check in ("content_type_conformance", "response_schema_conformance"):
        if status >= 400:
            return "ERROR-JSON"
        if check == "content_type_conformance" or isinstance(failure, MalformedJson):
            return "SUCCESS-JSON"
        if response.content.strip() == b"null" and case.method.upper() == "GET":
            return missing  # `200 null` is how this server says "no such book"
        return "BOOK-SHAPE"
    if check == "negative_data_rejection" or (check == "status_code_conformance" and status >= 400):
        if bad_path:
            return "PATH-ID"
        if unknown_members_only(case):
            return "VAL-UNKNOWN"  # unknown members are ignored or rejected with 400/422
        if bad_body:
            return "INVALID-4XX"
        return missing if status >= 400 else ok
    return ok  # positive_data_acceptance, or an undocumented non-error status


def _fold(text: str) -> str:
    """``text`` with the changes servers commonly make undone: Unicode normalisation, case,
    control and format characters, whitespace (trimmed, collapsed or dropped)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch)[0] != "C")


def echo_violations(case: Case[Any], response: Response) -> list[tuple[str, str]]:
    """The kit's rules for what an accepted POST/PUT of a valid body answers: the book as sent
    (CREATE-OK/PUT-OK; strings exactly, DATA-EXACT; an absent isbn as null and the same id after
    a PUT, PUT-REPLACE), with no unknown member echoed (VAL-UNKNOWN) and no client id adopted
    (VAL-CLIENT-ID). Schemathesis checks only the shape of the answer."""
    method = case.method.upper()
    meta = case.meta
    if (
        method not in ("POST", "PUT")
        or method != case.operation.method.upper()
        or not 200 <= response.status_code < 300
        or not isinstance(case.body, dict)
        or meta is None
        or coverage_scenario(case) in REQUEST_SHAPE_PROBES
    ):
        return []
    negative = any(info.mode.is_negative for info in meta.components.values())
    if negative and not unknown_members_only(case):
        return []  # an accepted invalid body: negative_data_rejection reports it
    try:
        served = json.loads(response.content)
    except ValueError:
        return []  # not JSON: the shape checks report it
    if not isinstance(served, dict):
        return []
    ok_rule = "CREATE-OK" if method == "POST" else "PUT-OK"
    found: list[tuple[str, str]] = []
    sent = {**case.body, "isbn": case.body.get("isbn")}
    for member in REQUEST_MEMBERS:
        want, got = sent[member], served.get(member)
        if got == want and type(got) is type(want):
            continue
        if isinstance(want, str) and isinstance(got, str) and _fold(got) == _fold(want):
            rid = "DATA-EXACT"
        elif member == "isbn" and "isbn" not in case.body and method == "PUT":
            rid = "PUT-REPLACE"
        else:
            rid = ok_rule
        found.append((rid, f"{method} accepted {member}={want!r} and answered {member}={got!r}"))
    for member in set(case.body) - {*REQUEST_MEMBERS, "id"}:
        if member in served and served[member] == case.body[member]:
            found.append(("VAL-UNKNOWN", f"{method} echoed the unknown member {member!r}"))
    path_id = case.path_parameters.get("book_id")
    if method == "PUT" and str(served.get("id")) != str(path_id):
        adopted = "id" in case.body and served.get("id") == case.body["id"]
        rid = "VAL-CLIENT-ID" if adopted else "PUT-REPLACE"  # the id must not change
        found.append((rid, f"PUT /books/{path_id} answered id {served.get('id')!r}"))
    if method == "POST" and "id" in case.body and served.get("id") == case.body["id"]:
        found.append(("VAL-CLIENT-ID", f"POST with id={case.body['id']!r} created that id"))
    return found


@cache
def check_functions(names: tuple[str, ...]) -> list[Any]:
    return [getattr(schemathesis.checks, name) for name in names]


def check_of(failure: Failure) -> str:
    """The built-in check that reported ``failure`` (a few failure kinds serve two checks)."""
    if isinstance(failure, JsonSchemaError) and failure.title.startswith("Response header"):
        return "response_headers_conformance"
    if isinstance(failure, MissingContentType):
        return "content_type_conformance"
    return type(failure).checks[0] if type(failure).checks else f"custom {type(failure).__name__}"


def describe_failure(check: str, failure: Failure, case: Case[Any]) -> str:
    meta = case.meta
    how = f"{meta.phase.name.value} phase, {meta.generation.mode.value} data" if meta else "case"
    scenario = getattr(meta.phase.data, "description", None) if meta else None
    lines = [
        f"Schemathesis check `{check}` failed on {case.operation.label} ({how}"
        + (f": {scenario})" if scenario else ")"),
        f"{failure.title}: {failure.message}" if failure.message else failure.title,
    ]
    return "\n".join(lines)
