"""`pip install` puts the `botify` command on PATH: the CLI's own code, from the native module."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import botify


def installed() -> str:
    """The console command the package installed beside this interpreter."""
    scripts = Path(sys.executable).parent
    exe = shutil.which("botify", path=str(scripts))
    assert exe, f"no botify command in {scripts}"
    return exe


def test_the_installed_command_runs_the_cli(tmp_path):
    exe = installed()
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"botify {botify.__version__}"
    world = tmp_path / "w"
    subprocess.run(
        [exe, "world", "generate", "--out", str(world), "--tracks", "300", "--users", "40"],
        capture_output=True, check=True,
    )
    stats = subprocess.run(
        [exe, "world", "stats", str(world), "--json"], capture_output=True, text=True, check=True
    )
    assert json.loads(stats.stdout)["tracks"] == 300
    # The same World the library reads.
    assert len(botify.World.load(world).tracks) == 300


def test_the_installed_command_keeps_the_exit_codes(tmp_path):
    exe = installed()
    bad_flag = subprocess.run([exe, "sim", "--world", str(tmp_path), "--episodes", "0"],
                              capture_output=True, text=True)
    assert bad_flag.returncode == 2 and "--episodes" in bad_flag.stderr
    missing = subprocess.run([exe, "world", "stats", str(tmp_path / "none")],
                             capture_output=True, text=True)
    assert missing.returncode == 3 and "error:" in missing.stderr
    helped = subprocess.run([exe, "train", "rp3beta", "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--beta" in helped.stdout
