"""The contract as data: the registry file, the generated contract page, and agreement between
the canonical OpenAPI document and the one the reference app serves."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conformance._registry import RegistryError, load_openapi, load_registry, parse_registry
from conformance._spec import render_contract_page
from reference_app.app import create_app

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("get", "put", "post", "delete", "patch")
BOUNDS = ("type", "minLength", "maxLength", "minimum", "maximum", "nullable")


def test_contract_page_is_generated_from_the_registry() -> None:
    page = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    assert page == render_contract_page(load_registry()), (
        "docs/contract.md is stale: run `python -m conformance spec > docs/contract.md`"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"requirement": [{}]}, "'contract_version' must be a non-empty string"),
        ({"contract_version": "1"}, "no [[requirement]] entries"),
        ({"contract_version": "1", "requirement": [{"id": "A", "level": "MUST", "section": "s"}]},
         "requirement #1: 'text' must be a non-empty string"),
        ({"contract_version": "1", "requirement": [
            {"id": "A", "level": "MUST", "section": "s", "text": "t"},
            {"id": "A", "level": "MUST", "section": "s", "text": "t"}]}, "duplicate id 'A'"),
        ({"contract_version": "1", "requirement": [
            {"id": "A", "level": "MUSTN'T", "section": "s", "text": "t"}]}, "is not one of"),
    ],
)  # fmt: skip
def test_registry_errors_name_the_file_and_entry(data: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistryError, match="^reqs.toml: .*" + message.replace("[", r"\[")):
        parse_registry(data, "reqs.toml")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'books.db'}"
    app = create_app(url)

    async def fetch() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            response = await client.get("/schema.yml")
            response.raise_for_status()
            return response.text

    document: dict[str, Any] = yaml.safe_load(asyncio.run(fetch()))
    return document


def resolve(document: dict[str, Any], node: Any) -> Any:
    """Inline every local $ref (the documents are small and acyclic)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(document, target)
        return {key: resolve(document, value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(document, item) for item in node]
    return node


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    resolved = resolve(document, document)
    return {
        (path, method): {**op, "path_parameters": item.get("parameters", op.get("parameters", []))}
        for path, item in resolved["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def shape(schema: dict[str, Any]) -> dict[str, Any]:
    """What must agree about a body schema: required members and each member's type and bounds."""
    return {
        "required": sorted(schema.get("required", [])),
        "properties": {
            name: {key: prop.get(key, False if key == "nullable" else None) for key in BOUNDS}
            for name, prop in schema.get("properties", {}).items()
        },
    }


def test_served_schema_has_the_canonical_paths_and_methods(served: dict[str, Any]) -> None:
    assert sorted(operations(served)) == sorted(operations(load_openapi()))


def test_served_schema_documents_the_canonical_status_codes(served: dict[str, Any]) -> None:
    mine = operations(served)
    for key, canonical in operations(load_openapi()).items():
        codes = set(mine[key]["responses"])
        want = set(canonical["responses"])
        success = {code for code in want if code.startswith("2")}
        assert {code for code in codes if code.startswith("2")} == success, key
        # The reference app takes the "accept any content type" branch, so it never sends 415.
        assert want - {"415"} <= codes, f"{key}: served schema lacks {want - {'415'} - codes}"


@pytest.mark.parametrize(("method", "path"), [("post", "/books"), ("put", "/books/{book_id}")])
def test_served_request_schema_matches(served: dict[str, Any], method: str, path: str) -> None:
    def body(document: dict[str, Any]) -> dict[str, Any]:
        op = operations(document)[(path, method)]
        schema: dict[str, Any] = op["requestBody"]["content"]["application/json"]["schema"]
        return shape(schema)

    assert body(served) == body(load_openapi())


BOOK_RESPONSES = [("post", "/books", "201"), ("get", "/books/{book_id}", "200"),
                  ("put", "/books/{book_id}", "200")]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "code"), BOOK_RESPONSES)
def test_served_book_schema_matches(
    served: dict[str, Any], method: str, path: str, code: str
) -> None:
    def book(document: dict[str, Any]) -> dict[str, Any]:
        response = operations(document)[(path, method)]["responses"][code]
        result = shape(response["content"]["application/json"]["schema"])
        # Response strings are bounded by what was accepted; only types and id bounds must agree.
        for name, prop in result["properties"].items():
            if name != "id":
                prop.update(minLength=None, maxLength=None, minimum=None, maximum=None)
        return result

    assert book(served) == book(load_openapi())


def test_served_path_parameter_matches(served: dict[str, Any]) -> None:
    def parameter(document: dict[str, Any]) -> dict[str, Any]:
        params = operations(document)[("/books/{book_id}", "get")]["path_parameters"]
        (param,) = [p for p in params if p["in"] == "path"]
        return {
            "name": param["name"],
            **{k: param["schema"].get(k) for k in BOUNDS[:1] + BOUNDS[3:5]},
        }

    assert parameter(served) == parameter(load_openapi())


def _numbers_written_in(path: Path) -> list[str]:
    """Integer literals in ``path`` that spell one of the contract's numbers (HTTP statuses,
    slices and exponents aside), as ``file:line value``."""
    limits = load_registry().limits
    exact = {limits.id_max, limits.id_max + 1, limits.year_max, limits.year_min,
             limits.year_max + 1, limits.body_max_bytes}  # fmt: skip
    small = {limits.text_max, limits.text_max + 1, limits.isbn_max, limits.isbn_max + 1,
             limits.concurrency}  # fmt: skip
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            base, power = node.left, node.right
            if (
                isinstance(base, ast.Constant)
                and base.value == 2
                and isinstance(power, ast.Constant)
                and power.value in (31, 63)
            ):
                found.append(f"{path.name}:{node.lineno} 2**{power.value}")
            continue
        if not isinstance(node, ast.Constant) or type(node.value) is not int:
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.UnaryOp):
            value, parent = -node.value, parents.get(parent)
        else:
            value = node.value
        loose = isinstance(parent, ast.Compare | ast.Slice) or (
            isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Pow)
        )
        if value in exact or (value in small and not loose):
            found.append(f"{path.name}:{node.lineno} {value}")
    return found


def test_the_contract_numbers_are_written_only_in_the_contract() -> None:
    """Length limits, int32 and id bounds, the body limit and the concurrency width are read
    from conformance/contract/ (see conformance._registry.Limits), never typed again."""
    found = [hit for path in sorted((ROOT / "conformance").glob("*.py"))
             for hit in _numbers_written_in(path)]  # fmt: skip
    assert not found, found
