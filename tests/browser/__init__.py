"""Tests that look at the HTML report and the matrix in headless Chromium (tox env ``browser``)."""
