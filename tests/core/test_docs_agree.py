"""The documentation lists every setting the code reads."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def settings_read_by_config():
    return set(re.findall(r'env_\w+\("([A-Z0-9_]+)"', (ROOT / "config.py").read_text()))


def test_env_example_lists_every_setting():
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert settings_read_by_config() - documented == set()


def test_configuration_doc_lists_every_setting():
    text = (ROOT / "docs" / "configuration.md").read_text()
    missing = {name for name in settings_read_by_config() if f"`{name}`" not in text}
    assert missing == set()
