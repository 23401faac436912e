"""pytest plugin for the Books API v1 conformance kit (filled in by the kit core)."""
