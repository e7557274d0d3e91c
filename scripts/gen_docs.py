#!/usr/bin/env python3
"""Regenerate the README's configuration reference and the examples' JSON Schema from the config model.

Replaces what is between ``<!-- config-reference:start -->`` and
``<!-- config-reference:end -->`` with ``hubspoke_deploy.config.config_reference_markdown()``, and
writes ``config/examples/hubspoke.schema.json`` (the examples' ``#:schema`` line points at it).

    python scripts/gen_docs.py            # rewrite README.md in place
    python scripts/gen_docs.py --check    # exit 1 if README.md is stale (for CI)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE_SCHEMA = Path(__file__).resolve().parents[1] / "config" / "examples" / "hubspoke.schema.json"


def reference() -> str:
    from hubspoke_deploy.config import config_reference_markdown

    return config_reference_markdown().strip("\n")


def extract(text: str) -> str:
    """The generated section of ``text`` (between the markers, without the surrounding newlines)."""
    try:
        _head, rest = text.split(START, 1)
        body, _tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"README has no '{START}' ... '{END}' markers") from None
    return body.strip("\n")


def render(text: str, generated: str) -> str:
    head, rest = text.split(START, 1)
    _body, tail = rest.split(END, 1)
    return f"{head}{START}\n{generated}\n{END}{tail}"


def schema_text() -> str:
    from hubspoke_deploy.config.schema import json_schema_text

    return json_schema_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the generated files are up to date")
    parser.add_argument("--readme", type=Path, default=README, help="the README to update (default: the repo's)")
    parser.add_argument("--schema", type=Path, default=EXAMPLE_SCHEMA,
                        help="the examples' JSON Schema file to update (default: the repo's)")
    args = parser.parse_args(argv)
    stale = []
    text = args.readme.read_text(encoding="utf-8")
    generated = reference()
    if extract(text) != generated:
        stale.append(args.readme)
        if not args.check:
            args.readme.write_text(render(text, generated), encoding="utf-8")
    schema = schema_text()
    if not args.schema.is_file() or args.schema.read_text(encoding="utf-8") != schema:
        stale.append(args.schema)
        if not args.check:
            args.schema.write_text(schema, encoding="utf-8")
    if not stale:
        print(f"{args.readme.name}, {args.schema.name}: up to date")
        return 0
    names = ", ".join(p.name for p in stale)
    if args.check:
        print(f"{names}: stale; run python scripts/gen_docs.py", file=sys.stderr)
        return 1
    print(f"{names}: regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
