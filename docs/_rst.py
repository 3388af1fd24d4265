"""Docstrings are written with a few reStructuredText constructs, which read plainly in
``help()``; this griffe extension turns them into the Markdown + arithmatex form that
mkdocstrings renders, before the docstrings are parsed:

- ``:math:`x``` -> ``$x$``;  a ``.. math::`` block -> a ``$$ ... $$`` block;
- ````code```` -> ```code```;  ``:func:`name``` (and ``:class:``, ``:meth:``, ...) -> ```name```;
- a paragraph ending in ``::`` and the indented block after it -> a fenced code block;
- a Google-style ``Example:`` section -> ``Examples:`` (griffe renders its doctests as code);
- an RST simple table (``====  ====`` borders) -> a fenced code block, aligned as written;
- the RST escape ``\\ `` after a role or literal (```Jet`\\ s``) -> nothing.

`rst_to_markdown` is a plain function of a string, tested in ``tests/test_docs.py``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|exc|obj|const):`~?([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_LITERAL = re.compile(r"``([^`]+?)``")
_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], start: int, base: int) -> int:
    """Index just past the block of lines after ``start`` indented deeper than ``base``."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return end


def _dedent(lines: list[str]) -> list[str]:
    depth = min((_indent(line) for line in lines if line.strip()), default=0)
    return [line[depth:] for line in lines]


def _inline(line: str) -> str:
    if line.lstrip().startswith((">>>", "... ")):
        return line
    line = _MATH_ROLE.sub(lambda m: f"${m.group(1)}$", line)
    line = _ROLE.sub(lambda m: f"`{m.group(1)}`", line)
    line = _LITERAL.sub(lambda m: f"`{m.group(1)}`", line)
    return line.replace("`\\ ", "`")


def rst_to_markdown(text: str) -> str:
    text = _MATH_ROLE.sub(lambda m: f"${m.group(1)}$", text)  # a role may span two lines
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        pad = " " * _indent(line)
        math = re.match(r"^\s*\.\. math::\s*(.*)$", line)
        if math:
            end = _block(lines, i + 1, _indent(line))
            body = [math.group(1)] if math.group(1).strip() else []
            body += _dedent(lines[i + 1 : end])
            out += ["", pad + "$$", *(pad + b for b in body if b.strip()), pad + "$$", ""]
            i = end
        elif re.match(r"^\s*Example:\s*$", line):
            out.append(pad + "Examples:")  # griffe's examples section; "Example:" would be
            i += 1  # an admonition, whose doctest lines would be read as Markdown prose
        elif _BORDER.match(line):
            end, borders = i + 1, 1
            while end < len(lines) and lines[end].strip():
                borders += bool(_BORDER.match(lines[end]))
                end += 1
            out += ["", pad + "```text", *(pad + b for b in _dedent(lines[i:end])), pad + "```"]
            i = end
        elif line.rstrip().endswith("::") and i + 1 < len(lines):
            head = line.rstrip()[:-2].rstrip()
            end = _block(lines, i + 1, _indent(line))
            if head.strip():
                out.append(_inline(head + ":"))
            body = _dedent(lines[i + 1 : end])
            while body and not body[0].strip():
                body.pop(0)
            out += ["", pad + "```text", *(pad + b if b.strip() else "" for b in body), pad + "```"]
            i = end
        else:
            out.append(_inline(line))
            i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Converts every docstring as its object is loaded."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
