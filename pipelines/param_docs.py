"""The parameters' documentation, rendered from the config dataclasses' metadata: the help of
each CLI flag and the README's parameter table, so that the two cannot drift apart.

    python -m pipelines.param_docs                    # print the Markdown table
    python -m pipelines.param_docs --write README.md  # rewrite the README's generated section
    python -m pipelines.param_docs --check README.md  # exit 1 when that section is stale

Help texts (``components.config.setting``) mark names and values as Markdown code
(`` `mean` ``): the table keeps the marks, ``--help`` drops them and shows a setting's name as
its flag.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from components.config import FieldDoc, field_docs

START = "<!-- parameters:start -->"
END = "<!-- parameters:end -->"


def plain(text: str, fields: Iterable[str] = ()) -> str:
    """``text`` without its Markdown code marks, as a terminal shows it; a marked name among
    ``fields`` becomes its flag (`` `max_seq_length` `` -> ``--max-seq-length``)."""
    names = set(fields)
    return re.sub(r"`([^`]*)`", lambda m: f"--{m[1].replace('_', '-')}" if m[1] in names
                  else m[1], text)


def flag_metavar(doc: FieldDoc) -> str | None:
    """``{a,b,c}`` for an enumerated setting, ``{true,false}`` for a bool, else None
    (argparse's default, the name in capitals). Only shown: the dataclasses validate."""
    if doc.choices:
        return "{" + ",".join(doc.choices) + "}"
    if doc.type == "bool":
        return "{true,false}"
    return None


_UNSET = object()


def flag_help(doc: FieldDoc, default: Any = _UNSET, fields: Iterable[str] = ()) -> str:
    """A flag's help: meaning (with the ``fields`` it names as flags), then type, allowed
    values and default (``doc.default`` unless another, e.g. a config file's, is given)."""
    default = doc.default if default is _UNSET else default
    facts = [doc.type]
    if doc.choices:
        facts.append(f"one of: {', '.join(doc.choices)}")
    shown = str(default).lower() if isinstance(default, bool) else repr(default)
    facts.append(f"default: {shown}")
    return f"{plain(doc.help, fields)} ({'; '.join(facts)})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default_cell(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return str(value)


def _meaning_cell(doc: FieldDoc) -> str:
    """The help, plus the allowed values unless the help already names each one as code."""
    text = doc.help
    if doc.choices and not all(f"`{c}`" in text for c in doc.choices):
        text += f"; one of {', '.join(f'`{c}`' for c in doc.choices)}"
    return text


def markdown_table(docs: Sequence[FieldDoc] | None = None) -> str:
    """The README's parameter table: one row per flat parameter, in pipeline order."""
    rows = ["| parameter | type | default | meaning |", "|---|---|---|---|"]
    for doc in (list(field_docs().values()) if docs is None else docs):
        rows.append(f"| `{doc.name}` | {doc.type} | {_cell(_default_cell(doc.default))} "
                    f"| {_cell(_meaning_cell(doc))} |")
    return "\n".join(rows) + "\n"


_SECTION = re.compile(re.escape(START) + r"\n(.*?)" + re.escape(END), re.S)


def readme_section(text: str) -> str:
    """What stands between the markers in ``text`` (a README)."""
    match = _SECTION.search(text)
    if match is None:
        raise ValueError(f"no {START} ... {END} section")
    return match.group(1)


def with_table(text: str) -> str:
    """``text`` with the section between the markers replaced by the current table."""
    readme_section(text)  # both markers present
    return _SECTION.sub(lambda _: f"{START}\n{markdown_table()}{END}", text, count=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.param_docs",
                                     description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", metavar="README",
                        help="rewrite the section between the markers in this file")
    action.add_argument("--check", metavar="README",
                        help="exit 1 when this file's section differs from the table")
    args = parser.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote the parameter table into {path}")
    elif args.check:
        if readme_section(Path(args.check).read_text(encoding="utf-8")) != markdown_table():
            print(f"{args.check}: the parameter table is stale; run python -m "
                  f"pipelines.param_docs --write {args.check}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
