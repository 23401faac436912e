"""A correct second implementation of Books API v1 and a zoo of mutants of it (see __main__)."""
