"""The HTML report as a person sees it: a passing run and a failing one, in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser._pages import REPORTS

Reports = dict[str, dict[str, Any]]


def open_report(page: Page, name: str) -> Page:
    page.goto((REPORTS / f"{name}.html").as_uri())
    return page


def count(report: dict[str, Any], outcome: str, level: str | None = None) -> int:
    return sum(
        item["outcome"] == outcome and level in (None, item["level"])
        for item in report["requirements"]
    )


def visible_rows(page: Page) -> int:
    return page.locator("#requirement-table tbody tr:visible").count()


def test_a_passing_run_renders_its_header_counts_and_table(
    page: Page, reports: Reports, screenshots: Path
) -> None:
    report = reports["zoo-correct"]
    open_report(page, "zoo-correct")
    expect(page.locator("#verdict")).to_contain_text("✔ Conforms")
    meta = page.locator("#meta")
    for value in (report["target"], report["kit_version"], report["profile"], report["started"]):
        expect(meta).to_contain_text(value)
    expect(meta).to_contain_text(f"Books API v{report['contract_version']}")
    rows = page.locator("#requirement-table tbody tr")
    expect(rows).to_have_count(len(report["requirements"]))
    expect(page.locator("#requirement-table tbody tr[data-outcome=passed]")).to_have_count(
        count(report, "passed")
    )
    must = page.locator("#level-summary tr[data-level=MUST] td")
    expect(must.nth(0)).to_have_text(str(sum(r["level"] == "MUST" for r in report["requirements"])))
    expect(must.nth(1)).to_have_text(str(count(report, "passed", "MUST")))
    expect(must.nth(2)).to_have_text("0")  # no MUST failed
    assert report["summary"]["MUST"]["failed"] == []
    # Without colour: every outcome cell has its symbol and its word.
    expect(page.locator("#req-BOOK-SHAPE td.outcome")).to_have_text("✔ passed")
    expect(page.locator("#req-CREATE-OK td").nth(3)).to_contain_text("examples")
    expect(page.locator("#traffic")).to_contain_text(f"{report['traffic']['requests']} requests")
    # The SHOULD rules the correct implementation skips are reported, one section per cause.
    expect(page.locator("article.cause")).to_have_count(len(report["root_causes"]))
    page.screenshot(path=screenshots / "report-passing.png")
    assert all(url.startswith("file://") for url in page.requested), page.requested  # type: ignore[attr-defined]


def test_the_outcome_and_level_filters_show_only_the_ticked_rows(
    page: Page, reports: Reports, screenshots: Path
) -> None:
    report = reports["zoo-correct"]
    total = len(report["requirements"])
    open_report(page, "zoo-correct")
    shown = page.locator("#shown")
    expect(shown).to_have_text(f"Showing {total} of {total} requirements")
    # Only the failed ones: untick every other outcome, with the keyboard as well as the mouse.
    boxes = page.locator("#filters input[name=outcome]")
    for index in range(boxes.count()):
        box = boxes.nth(index)
        if box.get_attribute("value") != "failed":
            box.focus()
            page.keyboard.press("Space")
    failed = count(report, "failed")
    assert failed == 3  # CREATE-LOCATION, INVALID-422, ERROR-PROBLEM: SHOULDs it skips
    expect(shown).to_have_text(f"Showing {failed} of {total} requirements")
    assert visible_rows(page) == failed
    for row in page.locator("#requirement-table tbody tr:visible").all():
        expect(row).to_have_attribute("data-outcome", "failed")
    page.screenshot(path=screenshots / "report-filtered.png", full_page=False)
    # Untick SHOULD too: no failed MUST or MAY rule is left.
    page.locator("#filters input[name=level][value=SHOULD]").uncheck()
    expect(shown).to_have_text(f"Showing 0 of {total} requirements")
    # Everything back, then MUST alone.
    for index in range(boxes.count()):
        boxes.nth(index).check()
    page.locator("#filters input[name=level][value=SHOULD]").check()
    page.locator("#filters input[name=level][value=MAY]").uncheck()
    page.locator("#filters input[name=level][value=SHOULD]").uncheck()
    must = sum(item["level"] == "MUST" for item in report["requirements"])
    expect(shown).to_have_text(f"Showing {must} of {total} requirements")
    assert visible_rows(page) == must


def test_a_failing_run_shows_the_root_cause_exchanges_and_reproducer(
    page: Page, reports: Reports, screenshots: Path
) -> None:
    report = reports["zoo-create-200"]
    open_report(page, "zoo-create-200")
    expect(page.locator("#verdict")).to_contain_text("✘ Does not conform")
    expect(page.locator("#req-CREATE-OK td.outcome")).to_have_text("✘ failed")
    blocked = count(report, "blocked")
    assert blocked == len(report["requirements"]) - 1
    expect(page.locator("#requirement-table tbody tr[data-outcome=blocked]")).to_have_count(blocked)
    expect(page.locator("#req-BOOK-SHAPE")).to_contain_text("CREATE-OK")  # blocked by
    # The requirement's ID leads to its failure section (a link, reachable by keyboard).
    page.locator("#req-CREATE-OK a").focus()
    page.keyboard.press("Enter")
    assert page.url.endswith("#cause-1")
    cause = page.locator("#cause-1")
    expect(cause.locator("h3")).to_contain_text("CREATE-OK (MUST) failed")
    expect(cause).to_contain_text(f"It blocks {blocked} requirement(s)")
    expect(cause.locator(".want")).to_contain_text("201")
    expect(cause.locator("li.exchange.blamed pre")).to_contain_text("> POST /books")
    expect(cause.locator("li.exchange.blamed pre")).to_contain_text("< 200")
    reproducer = cause.locator("pre.reproducer")
    expect(reproducer).to_contain_text("curl -sS -X POST")
    expect(reproducer).to_contain_text("#!/usr/bin/env bash")
    button = cause.get_by_role("button", name="Copy the reproducer")
    expect(button).to_be_visible()
    button.click()
    expect(cause.locator(".copied")).to_have_text("Copied.")
    cause.screenshot(path=screenshots / "report-failure.png")
    page.screenshot(path=screenshots / "report-failing.png")
    assert all(url.startswith("file://") for url in page.requested), page.requested  # type: ignore[attr-defined]


def test_every_section_is_reachable_from_the_page_links(page: Page, reports: Reports) -> None:
    open_report(page, "zoo-not-found-html")
    links = page.locator("nav.toc a")
    targets = [link.get_attribute("href") for link in links.all()]
    assert "#requirements" in targets
    assert "#failures" in targets
    for href in targets:
        assert href is not None
        assert page.locator(href).count() == 1, href
    # The suite ran ERROR-JSON's tests only: the rest is not run, and says so in words.
    expect(page.locator("#req-ERROR-JSON td.outcome")).to_have_text("✘ failed")
    expect(page.locator("#req-PUT-OK td.outcome")).to_have_text("· not-run")
