"""graphql-codegen turns the schema and the README's operations into TypeScript that tsc accepts.

The operations are taken from README.md when the test runs (its ```graphql blocks, the
`"query"` of each curl body, each Python `gql(\"\"\"...\"\"\")`), so a README edit that
breaks against the schema fails here. `codegen.config.mjs` says why the plugins are set up as
they are.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from pathlib import Path

from graphql import (
    DefinitionNode,
    FragmentDefinitionNode,
    NameNode,
    OperationDefinitionNode,
    parse,
    print_ast,
)

from tests.js.nodejs import HERE, node_with
from tests.test_readme import blocks

CURL_BODY = re.compile(r"""-d '(\{.*?\})'""", re.DOTALL)
PYTHON_GQL = re.compile(r'gql\(\s*"""(.*?)"""\s*\)', re.DOTALL)
DECLARED = re.compile(
    r"^(?:export )?(?:declare )?(?:type|interface|enum|const enum|const|class|function) (\w+)",
    re.MULTILINE)
SUFFIX = {"query": "Query", "mutation": "Mutation", "subscription": "Subscription"}


def graphql_sources() -> list[str]:
    sources = []
    for block in blocks():
        if block.lang == "graphql":
            sources.append(block.body)
        elif block.lang in {"sh", "bash", "shell"}:
            sources += [json.loads(body)["query"] for body in CURL_BODY.findall(block.body)]
        elif block.lang == "python":
            sources += PYTHON_GQL.findall(block.body)
    return sources


def readme_definitions() -> dict[str, DefinitionNode]:
    """Each operation and fragment of the README once, by name; anonymous ones get a name."""
    found: dict[str, DefinitionNode] = {}
    anonymous = 0
    for source in graphql_sources():
        for definition in parse(source).definitions:
            assert isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode)
            if definition.name is None:
                # codegen types operations by name and refuses two anonymous ones together.
                anonymous += 1
                name = f"Readme{anonymous}"
                definition = dataclasses.replace(definition, name=NameNode(value=name))
            else:
                name = definition.name.value
            if name in found:
                assert print_ast(found[name]) == print_ast(definition), (
                    f"README.md has two different GraphQL definitions named {name}")
            found[name] = definition
    return found


def test_codegen_types_the_readme_operations_and_tsc_strict_accepts_them(tmp_path: Path
                                                                           ) -> None:
    node = node_with("@graphql-codegen/cli", "@graphql-codegen/typescript",
                     "@graphql-codegen/typescript-operations", "typescript")
    definitions = readme_definitions()
    operations = {name: d for name, d in definitions.items()
                  if isinstance(d, OperationDefinitionNode)}
    assert {d.operation.value for d in operations.values()} >= {"query", "mutation"}, (
        f"found only {sorted(operations)} in README.md")
    documents, out = tmp_path / "documents", tmp_path / "generated"
    documents.mkdir()
    for name, definition in definitions.items():
        (documents / f"{name}.graphql").write_text(print_ast(definition) + "\n")
    env = {**os.environ, "CODEGEN_DOCUMENTS": str(documents), "CODEGEN_OUT": str(out)}

    generated = subprocess.run(
        [node, str(HERE / "node_modules/@graphql-codegen/cli/esm/bin.js"),
         "--config", "codegen.config.mjs"],
        cwd=HERE, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert generated.returncode == 0, f"{generated.stdout}\n{generated.stderr}"
    files = sorted(out.glob("*.ts"))
    checked = subprocess.run(
        [node, str(HERE / "node_modules/typescript/bin/tsc"), "--noEmit", "--strict",
         "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler",
         *map(str, files)],
        cwd=HERE, capture_output=True, text=True, timeout=120, check=False)

    assert [f.name for f in files] == ["operations.ts", "schema-types.ts"]
    assert checked.returncode == 0, f"{checked.stdout}\n{checked.stderr}"
    typed = (out / "operations.ts").read_text()
    for name, operation in operations.items():
        suffix = SUFFIX[operation.operation.value]
        assert f"export type {name}{suffix} = " in typed, name
        assert f"export type {name}{suffix}Variables = " in typed, name
    javascript_globals = set(json.loads(subprocess.run(
        [node, "-e", "console.log(JSON.stringify(Object.getOwnPropertyNames(globalThis)))"],
        capture_output=True, text=True, check=True).stdout))
    for file in files:
        shadowing = set(DECLARED.findall(file.read_text())) & (javascript_globals | {"Error"})
        assert not shadowing, f"{file.name} declares {sorted(shadowing)}, hiding the globals"
