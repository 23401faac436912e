"""Developer tools for books-conformance (not part of the installed package)."""
