"""Books API v1 conformance kit."""
