"""Request and response bodies of the Books API v1, as strict pydantic models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
ID_MAX = 2**63 - 1

#: Strings must not contain U+0000, which Postgres cannot store. (Lone surrogates,
#: which no driver can encode, are rejected by pydantic itself: ``string_unicode``.)
NO_NUL = r"^[^\x00]*$"

#: ``title`` and ``author``: 1..500 code points, stored exactly as sent.
Text = Annotated[str, Field(strict=True, min_length=1, max_length=500, pattern=NO_NUL)]

#: ``isbn``: 1..32 code points.
Isbn = Annotated[str, Field(strict=True, min_length=1, max_length=32, pattern=NO_NUL)]

#: ``year``: a JSON integer (not a string, boolean or float) in the int32 range.
Year = Annotated[int, Field(strict=True, ge=INT32_MIN, le=INT32_MAX)]


class BookIn(BaseModel):
    """The body of POST /books and PUT /books/{book_id}.

    Unknown members, including a client-supplied id, are ignored.
    """

    model_config = ConfigDict(extra="ignore")

    title: Text
    author: Text
    year: Year
    isbn: Isbn | None = None


class BookOut(BaseModel):
    """A book as returned by the API; every member is always present."""

    model_config = ConfigDict(from_attributes=True)

    id: Annotated[int, Field(ge=1, le=ID_MAX)]
    title: str
    author: str
    year: int
    isbn: str | None
