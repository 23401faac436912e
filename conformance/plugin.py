"""pytest plugin for the Books API v1 conformance kit.

Run ``pytest --pyargs conformance --base-url http://127.0.0.1:8000`` (or ``pytest conformance``
in a checkout); with no base URL the plugin boots the reference app on a fresh SQLite file.
Options live in the ``conformance`` group, each with an environment-variable default.
"""

from __future__ import annotations

import argparse
import difflib
import os
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance import hookspecs
from conformance._boot import BootError, ServerProcess, reference_app_process
from conformance._client import BooksClient, HygieneError, RequirementViolation
from conformance._exchange import Exchange, fingerprint
from conformance._expectations import ExpectationsError, load_expectations
from conformance._profiles import PROFILES, Profile
from conformance._registry import load_registry
from conformance._report import ConformanceReport, Failure, Hygiene

KIT_DIR = Path(__file__).parent
LAYERS = {
    "test_properties": "properties",
    "test_stateful": "state machine",
    "test_schemathesis": "schemathesis",
    "test_concurrency": "concurrency",
}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"", "0", "false", "no", "off"}


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value not in _TRUE | _FALSE:
        raise pytest.UsageError(f"{name}={value!r}: use 1/true/yes/on or 0/false/no/off")
    return value in _TRUE


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "conformance", "Books API conformance kit (--base-url picks the target)"
    )
    group.addoption(
        "--conformance-strict",
        action="store_true",
        default=None,
        help="fail the run on SHOULD and MAY failures too (env CONFORMANCE_STRICT=1)",
    )
    group.addoption(
        "--conformance-expectations",
        metavar="FILE",
        default=os.environ.get("CONFORMANCE_EXPECTATIONS"),
        help="TOML file of requirement IDs this implementation knowingly fails "
        "(env CONFORMANCE_EXPECTATIONS)",
    )
    group.addoption(
        "--conformance-report-json",
        metavar="PATH",
        default=os.environ.get("CONFORMANCE_REPORT_JSON"),
        help="write per-requirement verdicts as JSON (env CONFORMANCE_REPORT_JSON)",
    )
    group.addoption(
        "--conformance-report-md",
        metavar="PATH",
        default=os.environ.get("CONFORMANCE_REPORT_MD"),
        help="write the report as Markdown, e.g. $GITHUB_STEP_SUMMARY (env CONFORMANCE_REPORT_MD)",
    )
    group.addoption(
        "--conformance-profile",
        choices=sorted(PROFILES),
        default=os.environ.get("CONFORMANCE_PROFILE", "default"),
        help="generated-test budget: quick, default or thorough (env CONFORMANCE_PROFILE)",
    )
    group.addoption(
        "--conformance-requirement",
        metavar="ID",
        action="append",
        default=[],
        help="run only the kit tests that check this requirement (repeatable, or ID,ID)",
    )
    group.addoption(
        "--conformance-timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=os.environ.get("CONFORMANCE_TIMEOUT", "10"),
        help="per-request timeout in seconds (env CONFORMANCE_TIMEOUT, default 10)",
    )


class Kit:
    """The plugin's per-run state: target, client, report and the current test's exchanges."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.registry = load_registry()
        strict = config.getoption("conformance_strict")
        self.strict = bool(strict) if strict is not None else _flag("CONFORMANCE_STRICT")
        profile = config.getoption("conformance_profile")
        if profile not in PROFILES:
            raise pytest.UsageError(
                f"CONFORMANCE_PROFILE={profile!r}: choose one of {', '.join(sorted(PROFILES))}"
            )
        self.profile = PROFILES[profile]
        path = config.getoption("conformance_expectations")
        try:
            self.expectations = load_expectations(Path(path), self.registry) if path else {}
        except ExpectationsError as error:
            raise pytest.UsageError(str(error)) from None
        self.report = ConformanceReport(self.registry, self.expectations, self.strict)
        self.app: ServerProcess | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.url = ""
        self.current: list[Exchange] = []
        self.soft: list[tuple[str, str, Exchange]] = []
        self.hygiene: Hygiene | None = None  # set by the client's teardown, sent with a report
        self.client: BooksClient | None = None  # the session's client, once a test asked for it
        self.marks: list[int] = []  # where the current test's setup and teardown began in history

    # -- target ----------------------------------------------------------------------------------
    def resolve_target(self) -> str:
        """The base URL under test, booting the reference app when none is given."""
        if self.url:
            return self.url
        config = self.config
        url = config.hook.pytest_conformance_target(config=config)
        url = url or config.getoption("base_url", None) or config.getini("base_url")
        if not url:
            self._tmp = tempfile.TemporaryDirectory(prefix="conformance-")
            self.app = reference_app_process(Path(self._tmp.name), os.environ.get("DATABASE_URL"))
            try:
                url = self.app.start()
            except BootError as error:
                pytest.exit(f"conformance: {error}", returncode=pytest.ExitCode.USAGE_ERROR)
            config.option.base_url = url
        if not url.startswith(("http://", "https://")):
            pytest.exit(
                f"conformance: --base-url {url!r} is not an http(s) URL; "
                "pass e.g. --base-url http://127.0.0.1:8000",
                returncode=pytest.ExitCode.USAGE_ERROR,
            )
        self.url = url.rstrip("/")
        self._check_reachable()
        return self.url

    def _check_reachable(self) -> None:
        timeout = self.config.getoption("conformance_timeout")
        try:
            with httpx.Client(timeout=timeout) as client:
                client.get(self.url + "/books")
        except httpx.HTTPError as error:
            pytest.exit(
                f"conformance: cannot reach the target at {self.url} ({type(error).__name__}: "
                f"{error}). Start your server, or pass the right --base-url; "
                "omit it to test the bundled reference app.",
                returncode=pytest.ExitCode.USAGE_ERROR,
            )

    def stop(self) -> None:
        if self.app is not None:
            self.app.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- pytest hook: runs on the xdist controller, or in-process ---------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Fold a test's verdicts (``report.conformance``) into the run's report."""
        record = getattr(report, "conformance", None)
        if record is None:
            return
        self.report.target = self.report.target or record["target"]
        self.report.record_pass(record["passed"])
        exchanges = [Exchange(**ex) for ex in record.get("exchanges", [])]
        for failure in record["failures"]:
            exchange = Exchange(**failure["exchange"]) if failure["exchange"] else None
            self.report.record_failure(
                failure["requirement"],
                Failure(report.nodeid, record["layer"], failure["message"], exchanges, exchange),
            )
        if "hygiene" in record:
            self.report.add_hygiene(Hygiene(**record["hygiene"]))
        if "traffic" in record:
            self.report.add_traffic(report.nodeid, **record["traffic"])

    # -- client hooks ----------------------------------------------------------------------------
    def on_exchange(self, exchange: Exchange) -> None:
        self.current.append(exchange)

    def on_violation(self, requirement: str, message: str, exchange: Exchange) -> None:
        """Raise violations that fail the run; remember the others for the report."""
        if self.report.gating(requirement) and requirement not in self.expectations:
            raise RequirementViolation(requirement, message, exchange)
        self.soft.append((requirement, message, exchange))

    def new_client(self) -> BooksClient:
        self.client = BooksClient(
            self.resolve_target(),
            timeout=self.config.getoption("conformance_timeout"),
            on_violation=self.on_violation,
            on_exchange=self.on_exchange,
        )
        return self.client

    def mark(self) -> None:
        """Remember where the client's history stands (see :func:`traffic`)."""
        self.marks.append(len(self.client.history) if self.client is not None else 0)


KIT = pytest.StashKey[Kit]()


def is_kit_item(item: pytest.Item) -> bool:
    return KIT_DIR in Path(item.path).parents


def requirements_of(item: pytest.Item) -> list[str]:
    return [rid for marker in item.iter_markers("requirement") for rid in marker.args]


def layer_of(item: pytest.Item) -> str:
    return LAYERS.get(Path(item.path).stem, "examples")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement(*ids): Books API requirement IDs a conformance test checks"
    )
    kit = config.stash[KIT] = Kit(config)
    config.pluginmanager.register(kit, "conformance-kit")


def pytest_unconfigure(config: pytest.Config) -> None:
    if KIT in config.stash:
        config.stash[KIT].stop()


def pytest_report_header(config: pytest.Config) -> str:
    kit = config.stash[KIT]
    mode = "strict" if kit.strict else "MUST gates, SHOULD/MAY reported"
    return (
        f"conformance: Books API contract v{kit.registry.contract_version}, "
        f"{len(kit.registry)} requirements, {mode}, profile {kit.profile.name}"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Traceability: every kit test names known requirements; every requirement has a test."""
    kit = config.stash[KIT]
    problems = []
    covered: set[str] = set()
    modules = set()
    for item in items:
        if not is_kit_item(item):
            continue
        modules.add(Path(item.path).name)
        ids = requirements_of(item)
        if not ids:
            problems.append(f"{item.nodeid} names no requirement; add @pytest.mark.requirement(ID)")
        for rid in ids:
            if rid not in kit.registry:
                problems.append(f"{item.nodeid} names unknown requirement {rid!r}")
            else:
                covered.add(rid)
                item.user_properties.append(("requirement", rid))
                item.user_properties.append(("level", kit.registry[rid].level))
    all_modules = {path.name for path in KIT_DIR.glob("test_*.py")}
    if modules and modules >= all_modules:
        for rid in kit.registry:
            if rid not in covered:
                problems.append(f"requirement {rid} has no test in the conformance suite")
    if problems:
        raise pytest.UsageError("conformance traceability:\n  " + "\n  ".join(problems))
    _select_requirements(config, items)


def _select_requirements(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--conformance-requirement ID``: keep only the kit tests that check one of the IDs."""
    registry = config.stash[KIT].registry
    wanted = {
        rid for value in config.getoption("conformance_requirement") for rid in value.split(",")
    }
    if not wanted:
        return
    for rid in sorted(wanted - set(registry)):
        close = difflib.get_close_matches(rid, list(registry), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise pytest.UsageError(
            f"--conformance-requirement {rid}: no such requirement{hint}; "
            "`python -m conformance ids` lists them"
        )
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        selected = not is_kit_item(item) or wanted & set(requirements_of(item))
        (keep if selected else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Fail fast, once, when the target cannot be reached (instead of a failure per test)."""
    if session.config.option.collectonly:
        return
    if any(is_kit_item(item) for item in session.items):
        session.config.stash[KIT].resolve_target()


def pytest_runtest_setup(item: pytest.Item) -> None:
    kit = item.config.stash[KIT]
    kit.current = []
    kit.soft = []
    kit.marks = []
    kit.mark()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    item.config.stash[KIT].mark()  # what follows is cleanup, maybe sent concurrently


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the test's verdicts to its report (``report.conformance``, plain data so that it
    travels from xdist workers) and turn non-gating or expected failures into xfails."""
    report = yield
    if not is_kit_item(item):
        return report
    kit = item.config.stash[KIT]
    layer, exchanges = layer_of(item), [asdict(ex) for ex in kit.current]
    failures: list[dict[str, Any]] = [
        {"requirement": rid, "message": msg, "exchange": asdict(ex)} for rid, msg, ex in kit.soft
    ]
    kit.soft = []
    record: dict[str, Any] = {"layer": layer, "target": kit.url, "passed": [], "failures": failures}
    if report.passed and report.when == "call":
        record["passed"] = requirements_of(item)
    elif report.failed and call.excinfo is not None:
        error = call.excinfo.value
        if isinstance(error, HygieneError):
            return report
        if isinstance(error, RequirementViolation):
            blamed, exchange = [error.requirement], error.exchange
            if error.requirement == "NO-5XX":  # a 5xx also breaks whatever the test expected
                expected = getattr(error, "also", None)  # the raiser may know it exactly
                if expected is None:
                    expected = requirements_of(item)
                blamed += [rid for rid in expected if rid != "NO-5XX"]
        else:
            blamed, exchange = requirements_of(item), (kit.current[-1] if kit.current else None)
        for rid in blamed:
            failures.append(
                {
                    "requirement": rid,
                    "message": str(error)[:4000],
                    "exchange": asdict(exchange) if exchange else None,
                }
            )
        _apply_level(kit, report, blamed)
    if failures:
        record["exchanges"] = exchanges
    if kit.hygiene is not None:
        record["hygiene"], kit.hygiene = asdict(kit.hygiene), None
    if report.when == "teardown":
        record["traffic"] = traffic(kit, layer)
    report.conformance = record  # type: ignore[attr-defined]
    return report


def traffic(kit: Kit, layer: str) -> dict[str, Any]:
    """How many requests a test sent (all layers, Schemathesis' included), and their fingerprint
    (the ones sent concurrently, by the concurrency checks and in teardown, in any order)."""
    history = kit.client.history if kit.client is not None else []
    start = kit.marks[0] if kit.marks else 0
    split = kit.marks[1] if len(kit.marks) > 1 else len(history)
    body, cleanup = history[start:split], history[split:]
    digest = fingerprint(body, ordered=layer != "concurrency")
    if cleanup:
        digest += fingerprint(cleanup, ordered=False)
    return {"requests": len(body) + len(cleanup), "digest": digest}


def _apply_level(kit: Kit, report: pytest.TestReport, blamed: list[str]) -> None:
    """Expected failures and non-gating (SHOULD/MAY) failures are reported as xfail."""
    if all(rid in kit.expectations for rid in blamed):
        reasons = "; ".join(f"{rid}: {kit.expectations[rid]}" for rid in blamed)
        report.outcome = "skipped"
        report.wasxfail = f"expected failure ({reasons})"
    elif not any(kit.report.gating(rid) for rid in blamed):
        levels = ", ".join(f"{kit.registry[rid].level} {rid}" for rid in blamed)
        report.outcome = "skipped"
        report.wasxfail = f"{levels} not met (reported; --conformance-strict fails it)"


@pytest.fixture(scope="session")
def books_client(request: pytest.FixtureRequest) -> Iterator[BooksClient]:
    """A session-wide client for the target; cleans up every book it created at the end."""
    kit = request.config.stash[KIT]
    client = kit.new_client()
    yield client
    try:
        leftovers = client.cleanup()
    finally:
        client.close()
    kit.hygiene = Hygiene(created=len(client.ledger.all_ids()), leftovers=leftovers)


@pytest.fixture(scope="session")
def profile(request: pytest.FixtureRequest) -> Profile:
    """The search budget chosen with ``--conformance-profile`` (quick, default, thorough)."""
    return request.config.stash[KIT].profile


@pytest.fixture
def client(books_client: BooksClient) -> BooksClient:
    """The session client, for one test."""
    return books_client


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    kit = session.config.stash.get(KIT, None)
    if kit is None or not kit.report.ran_any() or hasattr(session.config, "workerinput"):
        return
    if kit.report.unexpected_passes() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if kit.report.hygiene and kit.report.hygiene.leftovers and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    for option, write in (
        ("conformance_report_json", kit.report.write_json),
        ("conformance_report_md", kit.report.write_markdown),
    ):
        path = session.config.getoption(option)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            write(path)
    session.config.hook.pytest_conformance_report(config=session.config, report=kit.report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    kit = terminalreporter.config.stash.get(KIT, None)
    if kit is None or not kit.report.ran_any():
        return
    terminalreporter.write_sep("=", "Books API conformance")
    for line in kit.report.terminal_lines():
        terminalreporter.write_line(line)


@pytest.fixture
def book(client: BooksClient) -> dict[str, object]:
    """A book freshly created by this run (the kit may write to it)."""
    from conformance._cases import valid_body

    response = client.create(valid_body())
    if response.status_code != 201:
        raise RequirementViolation(
            "CREATE-OK", f"creating a valid book got {response.status_code}", client.history[-1]
        )
    created: dict[str, object] = response.json()
    return created
