"""The implementations matrix in headless Chromium: counts, colours and words, and a failed cell
that leads to that failure's reproducer in the implementation's HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

Reports = dict[str, dict[str, Any]]


def test_the_matrix_shows_one_column_per_report_with_totals(
    page: Page, reports: Reports, matrix: Path, screenshots: Path
) -> None:
    page.goto(matrix.as_uri())
    names = list(reports)
    heads = page.locator("#matrix thead th.implementation")
    expect(heads).to_have_count(len(names))
    for index, name in enumerate(names):
        expect(heads.nth(index)).to_contain_text(name)
    requirements = reports["zoo-correct"]["requirements"]
    expect(page.locator("#matrix tbody tr[data-level]")).to_have_count(len(requirements))
    sections = list(dict.fromkeys(item["section"] for item in requirements))
    expect(page.locator("#matrix tr.section-row")).to_have_count(len(sections))
    for index, name in enumerate(names):
        passed = sum(item["outcome"] == "passed" for item in reports[name]["requirements"])
        cells = page.locator(f"#matrix tbody td.cell:nth-child({index + 3}).passed")
        expect(cells).to_have_count(passed)
        expect(page.locator("td.total-passed").nth(index)).to_have_text(str(passed))
    create_ok = page.locator("#req-CREATE-OK td.cell")
    expect(create_ok.nth(0)).to_have_text("✔ passed")
    expect(create_ok.nth(1)).to_have_text("✘ failed (MUST)")
    colour = create_ok.nth(1).evaluate("cell => getComputedStyle(cell).backgroundColor")
    assert colour != create_ok.nth(0).evaluate("cell => getComputedStyle(cell).backgroundColor")
    page.screenshot(path=screenshots / "matrix.png", full_page=True)
    assert all(url.startswith("file://") for url in page.requested), page.requested  # type: ignore[attr-defined]


def test_a_failed_cell_leads_to_the_failure_and_its_reproducer(
    page: Page, reports: Reports, matrix: Path, screenshots: Path
) -> None:
    page.goto(matrix.as_uri())
    cell = page.locator("#req-CREATE-OK td.cell").nth(1)
    cell.get_by_role("link").click()
    page.wait_for_load_state()
    assert page.url.endswith("zoo-create-200.html#failure-CREATE-OK"), page.url
    cause = page.locator("article.cause", has=page.locator("#failure-CREATE-OK"))
    expect(cause).to_be_in_viewport()
    expect(cause.locator("pre.reproducer")).to_contain_text("curl -sS -X POST")
    expect(cause.get_by_role("button", name="Copy the reproducer")).to_be_visible()
    page.screenshot(path=screenshots / "matrix-to-failure.png")


def test_a_cell_that_passed_leads_to_the_requirement_row(
    page: Page, reports: Reports, matrix: Path
) -> None:
    page.goto(matrix.as_uri())
    page.locator("#req-READ-OK td.cell").nth(0).get_by_role("link").click()
    page.wait_for_load_state()
    assert page.url.endswith("zoo-correct.html#req-READ-OK"), page.url
    expect(page.locator("#req-READ-OK")).to_be_in_viewport()
