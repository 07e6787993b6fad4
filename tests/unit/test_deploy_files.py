"""The deployment files name only settings the hotline knows (a typo there would be silently ignored)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from voice.runtime.config import Settings

pytestmark = pytest.mark.unit
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_every_hotline_variable_in_deploy_is_a_setting():
    known = {f"HOTLINE_{f.name.upper()}" for f in fields(Settings)}
    named: dict[str, set[str]] = {}
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            for var in re.findall(r"\bHOTLINE_[A-Z0-9_]+", path.read_text()):
                named.setdefault(var, set()).add(path.name)
    assert named, "no settings named in deploy/"
    unknown = {var: sorted(files) for var, files in named.items() if var not in known}
    assert not unknown, unknown


def test_the_example_environment_of_a_node_of_several_is_complete():
    env = dict(line.split("=", 1) for line in (DEPLOY / "hotline.env.example").read_text().splitlines()
               if line and not line.startswith("#"))
    settings = Settings.from_env({k: v for k, v in env.items() if k != "HOTLINE_OFFICE_PROFILE"})
    assert settings.node_problems() == []
