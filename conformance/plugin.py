"""pytest plugin for the Books API v1 conformance kit.

Run ``pytest --pyargs conformance --base-url http://127.0.0.1:8000`` (or ``pytest conformance``
in a checkout); with no base URL the plugin boots the reference app on a fresh SQLite file.
Options live in the ``conformance`` group, each with an environment-variable default.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import tempfile
import time
from collections.abc import Generator, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance import hookspecs
from conformance._boot import (
    BootError,
    ServerProcess,
    mask,
    reference_app_installed,
    reference_app_process,
)
from conformance._client import CONCURRENCY, BooksClient
from conformance._exchange import Exchange, fingerprint, reproducer
from conformance._expectations import ExpectationsError, load_expectations
from conformance._profiles import PROFILES, Profile
from conformance._registry import load_registry
from conformance._report import ConformanceReport, Failure, Hygiene
from conformance._violation import HygieneError, RequirementViolation, TargetGone

KIT_DIR = Path(__file__).parent
try:
    KIT_VERSION = metadata.version("books-conformance")
except metadata.PackageNotFoundError:  # a checkout that is not installed
    KIT_VERSION = "unknown"
LAYERS = {
    "test_properties": "properties",
    "test_stateful": "state machine",
    "test_schemathesis": "schemathesis",
    "test_concurrency": "concurrency",
}
#: Run order: the examples (foundations first, by how deep their rules' needs go), then the
#: generated layers, then concurrency, so ``-x`` stops at a root cause.
ORDER = ("examples", "properties", "state machine", "schemathesis", "concurrency")
MODULE_ORDER = ("test_operations", "test_validation", "test_errors")
REPORT_OPTIONS = ("conformance_report_json", "conformance_report_md", "conformance_report_html")
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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
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
        default=None,
        help="TOML file of requirement IDs this implementation knowingly fails "
        "(env CONFORMANCE_EXPECTATIONS)",
    )
    group.addoption(
        "--conformance-report-json",
        metavar="PATH",
        default=None,
        help="write per-requirement verdicts as JSON (env CONFORMANCE_REPORT_JSON)",
    )
    group.addoption(
        "--conformance-report-md",
        metavar="PATH",
        default=None,
        help="write the report as Markdown, e.g. $GITHUB_STEP_SUMMARY (env CONFORMANCE_REPORT_MD)",
    )
    group.addoption(
        "--conformance-report-html",
        metavar="PATH",
        default=None,
        help="write a self-contained HTML report: filterable requirement table, one section per "
        "failure with its reproducer (env CONFORMANCE_REPORT_HTML)",
    )
    group.addoption(
        "--conformance-profile",
        choices=sorted(PROFILES),
        default=None,
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
        "--conformance-repro-dir",
        metavar="DIR",
        default=None,
        help="write a reproducer script per failure here (env CONFORMANCE_REPRO_DIR; default: "
        "a new temporary directory, named in the summary)",
    )
    group.addoption(
        "--conformance-timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=None,
        help="per-request timeout in seconds (env CONFORMANCE_TIMEOUT, default 10)",
    )
    group.addoption(
        "--conformance-concurrency",
        metavar="N",
        type=_positive_int,
        default=None,
        help="requests in flight at once for independent checks and cleanup (env "
        f"CONFORMANCE_CONCURRENCY, default {CONCURRENCY}; 1 sends everything one at a time). "
        "Checks whose meaning depends on order stay sequential",
    )
    group.addoption(
        "--conformance-reference-db",
        metavar="URL",
        default=None,
        help="with no --base-url, the database the booted reference app uses (env "
        "CONFORMANCE_REFERENCE_DB; default: a new temporary SQLite file). DATABASE_URL is never "
        "read by the kit",
    )


ENV = {
    "conformance_expectations": "CONFORMANCE_EXPECTATIONS",
    "conformance_report_json": "CONFORMANCE_REPORT_JSON",
    "conformance_report_md": "CONFORMANCE_REPORT_MD",
    "conformance_report_html": "CONFORMANCE_REPORT_HTML",
    "conformance_profile": "CONFORMANCE_PROFILE",
    "conformance_repro_dir": "CONFORMANCE_REPRO_DIR",
    "conformance_timeout": "CONFORMANCE_TIMEOUT",
    "conformance_concurrency": "CONFORMANCE_CONCURRENCY",
    "conformance_reference_db": "CONFORMANCE_REFERENCE_DB",
}


class Kit:
    """The plugin's per-run state: target, client, report and the current test's exchanges.

    Nothing is read, checked or printed until :meth:`activate` (when conformance tests are
    collected), so the plugin stays out of the way of any other test run.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.active = False
        self.app: ServerProcess | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.url = ""
        self.target_label = ""  # how the header names the target
        self.current: list[Exchange] = []
        self.reported: list[RequirementViolation] = []  # non-gating: reported when a test ends
        self.blocked: list[str] = []  # the root causes that kept the current test from running
        self.hygiene: Hygiene | None = None  # set by the client's teardown, sent with a report
        self.client: BooksClient | None = None  # the session's client, once a test asked for it
        self.marks: list[int] = []  # where the current test's setup and teardown began in history
        self.seen: dict[str, str] = {}  # failure signature -> the first test that showed it
        self.scripts = 0  # reproducer scripts written
        self._repro_dir: Path | None = None
        self.unwritten: list[str] = []  # reports that could not be written at the end
        self.started = time.time()

    def setting(self, name: str) -> Any:
        """An option's value, else its environment variable's (see :data:`ENV`)."""
        value = self.config.getoption(name)
        return value if value is not None else os.environ.get(ENV[name]) or None

    def activate(self) -> None:
        """Read and check every setting (usage errors before any request), once."""
        if self.active:
            return
        config = self.config
        self.registry = load_registry()
        strict = config.getoption("conformance_strict")
        self.strict = bool(strict) if strict is not None else _flag("CONFORMANCE_STRICT")
        profile = self.setting("conformance_profile") or "default"
        if profile not in PROFILES:
            raise pytest.UsageError(
                f"CONFORMANCE_PROFILE={profile!r}: choose one of {', '.join(sorted(PROFILES))}"
            )
        self.profile = PROFILES[profile]
        timeout = self.setting("conformance_timeout") or 10.0
        try:
            self.timeout = _positive_float(timeout) if isinstance(timeout, str) else timeout
        except argparse.ArgumentTypeError as error:
            raise pytest.UsageError(f"CONFORMANCE_TIMEOUT: {error}") from None
        concurrency = self.setting("conformance_concurrency") or CONCURRENCY
        try:
            self.concurrency = (
                _positive_int(concurrency) if isinstance(concurrency, str) else concurrency
            )
        except argparse.ArgumentTypeError as error:
            raise pytest.UsageError(f"CONFORMANCE_CONCURRENCY: {error}") from None
        path = self.setting("conformance_expectations")
        try:
            self.expectations = load_expectations(Path(path), self.registry) if path else {}
        except ExpectationsError as error:
            raise pytest.UsageError(str(error)) from None
        self.reports = {option: self.setting(option) for option in REPORT_OPTIONS}
        for option, report_path in self.reports.items():
            check_writable(report_path, option)
        self.report = ConformanceReport(self.registry, self.expectations, self.strict)
        self.active = True

    # -- target ----------------------------------------------------------------------------------
    def resolve_target(self) -> str:
        """The base URL under test, booting the reference app when none is given."""
        if self.url:
            return self.url
        config = self.config
        url = config.hook.pytest_conformance_target(config=config)
        url = url or config.getoption("base_url", None) or config.getini("base_url")
        if not url:
            url = self._boot()
            config.option.base_url = url
        if not url.startswith(("http://", "https://")):
            pytest.exit(
                f"conformance: --base-url {url!r} is not an http(s) URL; "
                "pass e.g. --base-url http://127.0.0.1:8000",
                returncode=pytest.ExitCode.USAGE_ERROR,
            )
        self.url = url.rstrip("/")
        self.target_label = self.target_label or "given with --base-url"
        self._check_reachable()
        return self.url

    def _boot(self) -> str:
        """Boot the bundled reference app (on a new SQLite file unless told otherwise)."""
        if not reference_app_installed():
            pytest.exit(
                "conformance: no --base-url given and the bundled reference app is not "
                "installed; pass --base-url URL of your server, or "
                "pip install 'books-conformance[reference]'",
                returncode=pytest.ExitCode.USAGE_ERROR,
            )
        self._tmp = tempfile.TemporaryDirectory(prefix="conformance-")
        database = self.setting("conformance_reference_db")
        where = f"on {mask(database)}" if database else "on a temporary SQLite file"
        self.app = reference_app_process(Path(self._tmp.name), database)
        try:
            url = self.app.start()
        except BootError as error:
            pytest.exit(f"conformance: {mask(str(error))}", returncode=pytest.ExitCode.USAGE_ERROR)
        self.target_label = f"the bundled reference app {where}"
        return url

    def _check_reachable(self) -> None:
        timeout = self.timeout
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
        self.activate()  # (the xdist controller collects nothing itself)
        self.report.target = self.report.target or record["target"]
        self.report.record_pass(record["passed"], record["layer"])
        exchanges = [Exchange(**ex) for ex in record.get("exchanges", [])]
        for failure in record["failures"]:
            exchange = Exchange(**failure["exchange"]) if failure["exchange"] else None
            rules = tuple(failure["requirements"])
            replay = [Exchange(**ex) for ex in failure.get("replay") or []] or exchanges
            entry = Failure(report.nodeid, record["layer"], failure["message"], replay,
                            exchange, rules, failure.get("script"),
                            failure.get("timeline"))  # fmt: skip
            for rid in rules:
                self.report.record_failure(rid, entry)
        if record.get("blocked"):
            self.report.record_blocked(record["blocked"]["requirements"], record["blocked"]["by"])
        if record.get("judged") and self.report.first_failed_test is None and report.failed:
            self.report.first_failed_test = (report.nodeid, record["judged"])
        if record.get("gone"):
            self.report.gone = record["gone"]
        if "hygiene" in record:
            self.report.add_hygiene(Hygiene(**record["hygiene"]))
        if "traffic" in record:
            self.report.add_traffic(report.nodeid, **record["traffic"])

    # -- client hooks ----------------------------------------------------------------------------
    def on_exchange(self, exchange: Exchange) -> None:
        self.current.append(exchange)

    def on_violation(self, violation: RequirementViolation) -> None:
        """Raise violations that fail the run; remember the others for the report."""
        if any(
            self.report.gating(rid) and rid not in self.expectations
            for rid in violation.requirements
        ):
            raise violation
        self.reported.append(violation)

    def write_reproducer(self, rules: list[str], exchanges: list[Exchange]) -> str | None:
        """Write the replay of ``exchanges`` as a script; return its path (None if it failed)."""
        try:
            if self._repro_dir is None:
                chosen = self.setting("conformance_repro_dir")
                if chosen:
                    Path(chosen).mkdir(parents=True, exist_ok=True)
                    self._repro_dir = Path(chosen)
                else:
                    self._repro_dir = Path(tempfile.mkdtemp(prefix="conformance-repro-"))
            self.scripts += 1
            path = self._repro_dir / f"{self.scripts:03d}-{'-'.join(rules[:2])}.sh"
            path.write_text(reproducer(exchanges), encoding="utf-8")
        except OSError:
            return None
        return str(path)

    def new_client(self) -> BooksClient:
        self.client = BooksClient(
            self.resolve_target(),
            timeout=self.timeout,
            concurrency=self.concurrency,
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


def pytest_collection_finish(session: pytest.Session) -> None:
    """The kit's header line, only when conformance tests were collected."""
    kit = session.config.stash[KIT]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if not kit.active or reporter is None or hasattr(session.config, "workerinput"):
        return
    mode = "strict" if kit.strict else "MUST gates, SHOULD/MAY reported"
    reporter.write_line(
        f"conformance: Books API contract v{kit.registry.contract_version}, "
        f"{len(kit.registry)} requirements, {mode}, profile {kit.profile.name}"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Traceability: every kit test names known requirements; every requirement has a test."""
    kit = config.stash[KIT]
    if not any(is_kit_item(item) for item in items):
        return
    kit.activate()
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
    _order(kit, items)


def _order(kit: Kit, items: list[pytest.Item]) -> None:
    """Foundations first: the examples by the depth of their rules' needs, then the generated
    layers, then concurrency (the other tests keep their places, before the kit's)."""
    position = {id(item): index for index, item in enumerate(items)}

    def key(item: pytest.Item) -> tuple[int, int, int, int]:
        stem = Path(item.path).stem
        depth = max((kit.registry.depth(rid) for rid in requirements_of(item)), default=0)
        module = MODULE_ORDER.index(stem) if stem in MODULE_ORDER else len(MODULE_ORDER)
        layer = ORDER.index(layer_of(item))
        return (layer, depth if layer == 0 else 0, module, position[id(item)])

    others = [item for item in items if not is_kit_item(item)]
    mine = sorted((item for item in items if is_kit_item(item)), key=key)
    items[:] = others + mine


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
        kit = session.config.stash[KIT]
        kit.resolve_target()
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and not hasattr(session.config, "workerinput"):
            reporter.write_line(f"conformance: target {kit.url} ({kit.target_label})")


def needs_of(kit: Kit, item: pytest.Item) -> set[str]:
    """What a test's rules need to be judged at all. A test marked with a rule and with rules
    that need it (the state machine: CREATE-OK and DELETE-GONE) needs it too: once it failed,
    the test could judge nothing else."""
    return {need for rid in requirements_of(item) for need in kit.registry.prerequisites(rid)}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    kit = item.config.stash[KIT]
    if not is_kit_item(item):
        return
    kit.current = []
    kit.reported = []
    kit.marks = []
    kit.blocked = []
    kit.mark()
    if kit.report.gone:
        kit.blocked = ["the target stopped answering"]
        pytest.skip(f"not run: {kit.report.gone}")
    marks, needs = set(requirements_of(item)), needs_of(kit, item)
    # A failed rule of the test's own blocks it only when its other rules need it.
    roots = {root for root in kit.report.blockers(needs) if root not in marks or root in needs}
    blockers = sorted(roots, key=list(kit.registry).index)
    if blockers:
        kit.blocked = blockers
        pytest.skip(f"blocked by {', '.join(blockers)} (a rule these tests need failed)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if is_kit_item(item):
        item.config.stash[KIT].mark()  # what follows is cleanup, maybe sent concurrently


def _failure(
    kit: Kit, violation: RequirementViolation, script: str | None = None
) -> dict[str, Any]:
    notes = "\n".join(getattr(violation, "__notes__", []))
    message = violation.message + (f"\n{notes}" if notes else "")
    return {
        "requirements": list(violation.requirements),
        "message": message[:4000],
        "exchange": asdict(violation.exchange) if violation.exchange else None,
        "script": script,
        "timeline": violation.timeline,
        "replay": [asdict(ex) for ex in violation.replay] if violation.replay else None,
    }


def _skip(report: pytest.TestReport, reason: str) -> None:
    """Turn ``report`` into a skip whose reason groups in pytest's short summary."""
    report.outcome = "skipped"
    report.longrepr = (str(Path(__file__)), 0, f"Skipped: {reason}")


_NUMBERS = re.compile(r"\d+")


def _signature(violation: RequirementViolation) -> str:
    """Failures with one signature read as one (ids and sizes differ between tests)."""
    first = violation.message.splitlines()[0] if violation.message else ""
    return " ".join(violation.requirements) + " " + _NUMBERS.sub("#", first)


def failure_text(kit: Kit, violation: RequirementViolation, nodeid: str, script: str | None) -> str:
    """What a person reads once: the rule, what was sent and came back, what the contract
    wants, and how to replay it. Kit frames are left out."""
    signature = _signature(violation)
    rules = ", ".join(violation.requirements)
    if signature in kit.seen:
        first = violation.message.splitlines()[0] if violation.message else ""
        return f"[{rules}] the same failure as {kit.seen[signature]}: {first}"
    kit.seen[signature] = nodeid
    lines = []
    for rid in violation.requirements:
        requirement = kit.registry[rid]
        lines.append(f"[{rid}] {requirement.level}: {requirement.text}")
    lines.append(violation.message)
    lines.extend(getattr(violation, "__notes__", []))
    exchange = violation.exchange
    if exchange is not None:
        lines.append(exchange.describe())
        if exchange.want and exchange.rule in violation.requirements:
            lines.append(f"The contract wants: {exchange.want}")
    if script:
        lines.append(f"Reproduce: BASE_URL={kit.url} bash {script}")
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the test's verdicts to its report (``report.conformance``, plain data so that it
    travels from xdist workers). A failed check of one of the test's rules fails it (an xfail
    when the rule does not gate); a failed check of another rule is filed under that rule and the
    test ends *blocked* by it; a test whose needs failed earlier was skipped as blocked."""
    report = yield
    if not is_kit_item(item):
        return report
    kit = item.config.stash[KIT]
    layer, marks = layer_of(item), requirements_of(item)
    failures = [_failure(kit, violation) for violation in kit.reported]
    kit.reported = []
    record: dict[str, Any] = {"layer": layer, "target": kit.url, "passed": [], "failures": failures}
    error = call.excinfo.value if call.excinfo is not None else None
    if report.skipped and kit.blocked and report.when == "setup":
        record["blocked"] = {"requirements": marks, "by": kit.blocked}
    elif report.passed and report.when == "call":
        record["passed"] = marks
    elif report.failed and isinstance(error, TargetGone):
        kit.report.gone = record["gone"] = str(error)
        item.session.shouldstop = f"conformance: {error}"
        _skip(report, f"not judged: {error}")
    elif report.failed and isinstance(error, RequirementViolation):
        judged = [rid for rid in error.requirements if rid in marks]
        replay = list(error.replay) if error.replay else kit.current
        script = kit.write_reproducer(list(error.requirements), replay)
        failures.append(_failure(kit, error, script))
        if judged:
            record["judged"] = list(error.requirements)
            report.longrepr = failure_text(kit, error, item.nodeid, script)
            _apply_level(kit, report, judged)
        else:
            record["blocked"] = {"requirements": marks, "by": list(error.requirements)}
            first = error.message.splitlines()[0][:120] if error.message else ""
            _skip(report, f"blocked by {', '.join(error.requirements)} ({first})")
    elif report.failed and error is not None and not isinstance(error, HygieneError):
        # A failure no check filed under a rule: blame the rules the test is marked with.
        violation = RequirementViolation(
            marks[0], str(error)[:4000], kit.current[-1] if kit.current else None,
            also=tuple(marks[1:]),
        )  # fmt: skip
        failures.append(_failure(kit, violation))
        record["judged"] = marks
        _apply_level(kit, report, marks)
    if failures:
        record["exchanges"] = [asdict(ex) for ex in kit.current]
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


def pytest_sessionstart(session: pytest.Session) -> None:
    kit = session.config.stash.get(KIT, None)
    if kit is not None:
        kit.started = time.time()


def provenance(kit: Kit) -> dict[str, Any]:
    """Who produced a report, from what, when and how long it took (for the JSON report)."""
    tools: dict[str, str | None] = {}
    for name in ("pytest", "hypothesis", "schemathesis", "httpx"):
        try:
            tools[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            tools[name] = None
    return {
        "target_description": kit.target_label,
        "kit_version": KIT_VERSION,
        "profile": kit.profile.name,
        "tools": tools,
        "started": datetime.fromtimestamp(kit.started, UTC).isoformat(timespec="seconds"),
        "duration_seconds": round(time.time() - kit.started, 3),
    }


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    kit = session.config.stash.get(KIT, None)
    if kit is None or not kit.active or hasattr(session.config, "workerinput"):
        return
    if not kit.report.ran_any():
        return
    kit.report.meta = provenance(kit)
    failing = (
        kit.report.unexpected_passes()
        or kit.report.gone
        or [rid for rid in kit.report.gating_failures() if rid not in kit.expectations]
    )  # a rule can fail in a test that ends blocked: the run fails all the same
    if failing and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.INTERRUPTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # (interrupted: the target is gone)
    if kit.report.hygiene and kit.report.hygiene.leftovers and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    for option, write in (
        ("conformance_report_json", kit.report.write_json),
        ("conformance_report_md", kit.report.write_markdown),
        ("conformance_report_html", lambda path: _write_html(kit.report, path)),
    ):
        path = kit.reports[option]
        if not path:
            continue
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            write(path)
        except OSError as error:
            kit.unwritten.append(f"--{option.replace('_', '-')} {path}: {error}")
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
    session.config.hook.pytest_conformance_report(config=session.config, report=kit.report)


def _write_html(report: ConformanceReport, path: str) -> None:
    from conformance._html import write_report_html  # Jinja2: loaded only when asked for

    write_report_html(report, path)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    kit = terminalreporter.config.stash.get(KIT, None)
    if kit is None or not kit.active or not kit.report.ran_any():
        return
    terminalreporter.write_sep("=", "Books API conformance")
    for line in kit.report.terminal_lines():
        terminalreporter.write_line(line)
    for problem in kit.unwritten:
        terminalreporter.write_line(f"  could not write a report: {problem}", red=True)


def check_writable(path: str | None, option: str) -> None:
    """A report path that cannot be written is a usage error before any request is sent."""
    if not path:
        return
    flag = "--" + option.replace("_", "-")
    target = Path(path)
    try:
        if target.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        existed = target.exists()
        with target.open("a", encoding="utf-8"):
            pass
        if not existed:
            target.unlink()
    except OSError as error:
        raise pytest.UsageError(
            f"{flag} {path}: cannot write there ({error.strerror or error}); "
            "pass a path in a writable directory"
        ) from None


@pytest.fixture
def book(client: BooksClient) -> dict[str, Any]:
    """A book freshly created by this run (the kit may write to it; CREATE-OK is required)."""
    from conformance._cases import valid_body
    from conformance._judge import create

    return create(client, valid_body())
