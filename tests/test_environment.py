"""One source of pins: requirements.txt; environment.yml and pyproject.toml must agree with it."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.]+", version), f"not an exact pin: {line!r}"
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_requirements_pin_the_whole_stack():
    pins = _pins()
    for name in (
        "torch",
        "matplotlib",
        "jupyterlab",
        "tqdm",
        "nbval",
        "pytest",
        "ipywidgets",
        "ipykernel",
        "nbconvert",
        "numpy",
    ):
        assert name in pins, f"{name} is not pinned in requirements.txt"
    assert pins["torch"] == "2.13.0"


def test_pyproject_dependencies_are_pinned_and_allowed():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    for dep in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0).lower()
        assert name in pins, f"pyproject depends on {name}, which requirements.txt does not pin"
    assert project["requires-python"] == ">=3.11,<3.12"


def test_environment_yml_uses_the_same_pins_and_python():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*- python=3\.11\s*$", text, re.M)
    assert re.search(r"^\s*- -r requirements\.txt\s*$", text, re.M)
    assert re.search(r"^\s*- -e \.\s*$", text, re.M)
    # no second set of versions that could drift from requirements.txt
    assert not re.search(r"==", text)
