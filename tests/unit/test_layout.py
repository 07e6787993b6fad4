"""The layout holds: modules import each other without cycles (imports inside functions count too: a lazy
import back into the composition root is still a cycle in the design), the core does no I/O, layers
import downward only, and the SIP server runs without the web stack."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def module_graph() -> dict[str, set[str]]:
    files = [*ROOT.glob("voice/**/*.py"), *ROOT.glob("pipeline/**/*.py"), *ROOT.glob("tools/**/*.py"), ROOT / "app.py"]
    modules = {}
    for file in files:
        name = ".".join(file.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = file
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, file in modules.items():
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    target = full if full in modules else node.module
                    if target in modules and target != name:
                        graph[name].add(target)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in modules and a.name != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_checker_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_back_into_an_importer():
    graph = module_graph()
    assert len(graph) > 50 and "voice.commands" in graph["app"]
    assert cycles(graph) == []


def imported_names(package: str) -> dict[str, set[str]]:
    """Every module of ``package`` and the full names it imports (also inside functions)."""
    out: dict[str, set[str]] = {}
    for file in ROOT.glob(package.replace(".", "/") + "/**/*.py"):
        name = ".".join(file.relative_to(ROOT).with_suffix("").parts)
        found: set[str] = set()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        out[name] = found
    return out


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in imported_names(package).items()
        for name in names
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def test_the_core_does_no_io_and_knows_no_outer_layer():
    io = ("socket", "flask", "sqlalchemy", "requests", "urllib", "faster_whisper", "ctranslate2", "yaml", "threading")
    outer = ("voice.runtime", "voice.stages", "voice.transports", "voice.web", "voice.storage", "voice.dashboard",
             "voice.qa", "voice.commands", "tools", "app")
    assert len(imported_names("voice.core")) >= 10
    assert offenders("voice.core", io + outer) == []


def test_layers_import_downward_only():
    assert offenders("voice.runtime", ("voice.transports", "voice.web", "voice.qa", "voice.dashboard", "tools")) == []
    assert offenders("voice.stages", ("voice.runtime", "voice.transports", "voice.web", "voice.qa", "tools")) == []
    assert offenders("voice.storage", ("voice.transports", "voice.web", "voice.qa", "voice.dashboard", "tools")) == []
    assert offenders("voice.transports.sip", ("voice.transports.twilio", "voice.web", "flask", "tools")) == []
    # test and load tools stay out of the product; only the command line reaches the call simulator
    assert offenders("voice", ("tools", "bench", "tests")) == ["voice.audio_commands imports tools.simulate"]


def test_the_sip_server_starts_without_the_web_stack():
    code = (
        "import sys, app, voice.commands, voice.transports.sip.server, voice.storage.factory\n"
        "print(sorted(m for m in ('flask', 'werkzeug', 'gunicorn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


CALL_WRITES = {"start_call", "refuse_call", "record_turn", "update_turn", "store_rating", "end_call", "sms_delivery"}


def test_calls_are_written_to_the_store_by_the_call_record_alone():
    """One writer: transports, the driver and the session write through ``CallRecord``, never the store."""
    writers = set()
    for file in [*ROOT.glob("voice/**/*.py"), *ROOT.glob("tools/**/*.py"), ROOT / "app.py"]:
        relative = file.relative_to(ROOT).as_posix()
        if relative.startswith("voice/storage/") or relative == "voice/runtime/call_record.py":
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value
            name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
            if node.func.attr in CALL_WRITES and name not in ("record", "CallRecord"):
                writers.add(f"{relative}:{node.lineno} {node.func.attr}")
    assert writers == set()
