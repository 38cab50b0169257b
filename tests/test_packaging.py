"""A plain (non-editable) install serves pages: templates and static files travel inside the package."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import archive, sys
from archive.doors.web import create_app
assert archive.__file__.startswith(sys.prefix), archive.__file__  # the wheel's copy, not the checkout
client = create_app({"data_dir": sys.argv[1], "TESTING": True}).test_client()
home = client.get("/")
assert home.status_code == 200 and "Talk Archive" in home.get_data(as_text=True), home.status_code
style = client.get("/static/style.css")
assert style.status_code == 200 and b"{" in style.data
from search.reader import load
assert load() is not None  # the reading stage's weights travel with the package
print("ok")
"""


def test_a_wheel_installed_in_a_fresh_venv_renders_the_home_page(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("talk_archive-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    # The dependencies come from the project's environment (no network here), the package from the wheel.
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    result = subprocess.run(
        [str(python), "-c", CHECK, str(tmp_path / "data")], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]
