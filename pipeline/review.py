"""Setting a translation's ``reviewed`` flag in its knowledge-base file, changing nothing else.

The flag stays in the YAML (the knowledge base is the one place that says what was checked, and the
change shows up in version control like any other edit). Only the one ``reviewed:`` line is rewritten
(or added under the language when it is missing), so comments, folding and the order of keys are kept.
The result is parsed again and compared with the original before it replaces the file atomically.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml

_LOCK = threading.Lock()  # one writer at a time within a process
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w-]*):(?P<rest>.*)$")
_FLAG = re.compile(r"^(?P<head> +reviewed:[ \t]*)(?P<value>true|false|True|False|yes|no)(?P<tail>[ \t]*(#.*)?)$")
_INLINE_FLAG = re.compile(r"(\breviewed:[ \t]*)(true|false|True|False|yes|no)\b")


class ReviewEditError(ValueError):
    """The flag could not be set safely (the file's layout is not the documented one)."""


def set_reviewed(path: Path, language: str, value: bool) -> bool:
    """Set ``answer.<language>.reviewed`` in ``path``; returns whether the file changed."""
    with _LOCK:
        original = path.read_text(encoding="utf-8")
        before = yaml.safe_load(original)
        item = (before.get("answer") or {}).get(language) if isinstance(before, dict) else None
        if not isinstance(item, dict):
            raise ReviewEditError(f"{path}: no answer in language {language!r}")
        if bool(item.get("reviewed", False)) == value:
            return False
        edited = _edit(original, language, value, path)
        after = yaml.safe_load(edited)
        expected: Any = yaml.safe_load(original)
        expected["answer"][language]["reviewed"] = value
        if after != expected:
            raise ReviewEditError(f"{path}: the edit would change more than answer.{language}.reviewed")
        _write_atomically(path, edited)
        return True


def _edit(text: str, language: str, value: bool, path: Path) -> str:
    lines = text.splitlines(keepends=True)
    flag = "true" if value else "false"
    answer_at = next((i for i, line in enumerate(lines) if re.match(r"^answer:\s*(#.*)?$", line)), None)
    if answer_at is None:
        raise ReviewEditError(f"{path}: no top-level 'answer:' block")
    end = next(
        (i for i in range(answer_at + 1, len(lines)) if lines[i].strip() and not lines[i].startswith((" ", "#"))),
        len(lines),
    )
    child_indent: int | None = None
    start = None
    for i in range(answer_at + 1, end):
        m = _KEY.match(lines[i].rstrip("\r\n"))
        if not m:
            continue
        indent = len(m["indent"])
        child_indent = indent if child_indent is None else child_indent
        if indent == child_indent and m["key"] == language:
            start = i
            break
    if start is None or child_indent is None:
        raise ReviewEditError(f"{path}: answer.{language} not found")
    rest = _KEY.match(lines[start].rstrip("\r\n"))["rest"]  # type: ignore[index]
    if rest.strip().startswith("{"):  # flow style: de: {text: "…", reviewed: true}
        if _INLINE_FLAG.search(lines[start]):
            lines[start] = _INLINE_FLAG.sub(lambda m: m.group(1) + flag, lines[start], count=1)
        else:
            lines[start] = re.sub(r"\}(\s*(#.*)?)$", f", reviewed: {flag}}}\\1", lines[start].rstrip("\r\n"), count=1)
            lines[start] += _newline(text)
        return "".join(lines)
    block_end = next(
        (
            i
            for i in range(start + 1, end)
            if lines[i].strip() and not lines[i].lstrip().startswith("#") and _indent(lines[i]) <= child_indent
        ),
        end,
    )
    inner = None
    for i in range(start + 1, block_end):
        m = _KEY.match(lines[i].rstrip("\r\n"))
        if m and inner is None:
            inner = len(m["indent"])
        if m and len(m["indent"]) == inner and m["key"] == "reviewed":
            f = _FLAG.match(lines[i].rstrip("\r\n"))
            if not f:
                raise ReviewEditError(f"{path}: answer.{language}.reviewed is not a plain true/false")
            lines[i] = f["head"] + flag + f["tail"] + _newline(lines[i])
            return "".join(lines)
    if inner is None:
        raise ReviewEditError(f"{path}: answer.{language} has no keys")
    last = block_end
    while last > start + 1 and not lines[last - 1].strip():
        last -= 1
    if not lines[last - 1].endswith("\n"):
        lines[last - 1] += _newline(text)
    lines.insert(last, " " * inner + f"reviewed: {flag}" + _newline(text))
    return "".join(lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
