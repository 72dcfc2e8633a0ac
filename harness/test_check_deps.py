"""common/check-deps.sh against a fake apt: one package that apt does not
know, or that fails to install, is reported and does not stop the others;
alternatives a|b|c are understood in the tool's name and in the package's;
without root and outside CI it installs nothing and prints the command.
harness/host.py reads the alternatives of the real requirements.tsv too.

The script runs from a copy of common/ with a requirements.tsv of made-up
tools, with fake apt-get, apt-cache and id first on PATH. The fake apt-get
"installs" a package by putting a command of the package's name on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import host
from chapters import REPOSITORY

# Made-up tools: each named after the package that brings it, so that an
# install by the fake apt-get provides it.
REQUIREMENTS = """\
# purpose kind     name                          package
build     command  present-tool                  present-package
build     command  good-one                      good-one
build     command  no-such-tool                  no-such-package
build     command  breaks-on-install             breaks-on-install
build     command  absent-name|good-two          unknown-package|good-two
build     command  other-absent|good-three       good-three|good-four
book      command  only-for-the-book             only-for-the-book
"""
# What the fake apt-cache knows, and the package its apt-get fails on.
KNOWN_PACKAGES = "present-package good-one breaks-on-install good-two good-three good-four only-for-the-book"

FAKE_APT_GET = """#!/bin/sh
echo "apt-get $*" >> "$APT_LOG"
for package; do :; done  # the last word: the package
case $* in
    *update*) exit 0 ;;
    *install*breaks-on-install) echo "E: Sub-process /usr/bin/dpkg returned an error code (1)" >&2; exit 100 ;;
    *install*) printf '#!/bin/sh\\n' > "$FAKE_BIN/$package"; chmod +x "$FAKE_BIN/$package" ;;
esac
"""
# Like the real one, it writes its version table after the candidate, in
# another write: a reader that stops at the candidate line (grep -q) breaks
# its pipe, and under pipefail that reads as "no such package".
FAKE_APT_CACHE = f"""#!/bin/sh
case " {KNOWN_PACKAGES} " in
    *" $2 "*) printf '%s:\\n  Installed: (none)\\n  Candidate: 1.0\\n' "$2"
              sleep 0.05
              printf '  Version table:\\n     1.0 500\\n' ;;
esac
"""


@pytest.fixture
def fake_host(tmp_path) -> dict:
    """A copy of check-deps.sh with its own requirements.tsv, and fake apt
    commands first on PATH; the environment to run it in."""
    common = tmp_path / "common"
    (common / "host").mkdir(parents=True)
    shutil.copy(REPOSITORY / "common" / "check-deps.sh", common)
    (common / "host" / "requirements.tsv").write_text(REQUIREMENTS)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name, text in {"apt-get": FAKE_APT_GET, "apt-cache": FAKE_APT_CACHE,
                       "present-tool": "#!/bin/sh\n", "id": "#!/bin/sh\necho \"$FAKE_UID\"\n"}.items():
        (fake_bin / name).write_text(text)
        (fake_bin / name).chmod(0o755)
    return {"PATH": f"{fake_bin}:/usr/bin:/bin", "APT_LOG": str(tmp_path / "apt.log"), "FAKE_BIN": str(fake_bin),
            "FAKE_UID": "0", "HOME": str(tmp_path), "SCRIPT": str(common / "check-deps.sh")}


def check_deps(environment: dict, *purposes: str) -> subprocess.CompletedProcess:
    return subprocess.run([environment["SCRIPT"], *purposes], env=environment, capture_output=True, text=True,
                          timeout=60)


def apt_calls(environment: dict) -> list[str]:
    log = Path(environment["APT_LOG"])
    return log.read_text().splitlines() if log.exists() else []


def installs(environment: dict) -> list[str]:
    return [call.split()[-1] for call in apt_calls(environment) if " install " in call]


def test_as_root_each_package_is_installed_on_its_own(fake_host):
    result = check_deps(fake_host, "build")
    assert installs(fake_host) == ["breaks-on-install", "good-one", "good-three", "good-two"], result.stdout
    assert sum(" update" in call for call in apt_calls(fake_host)) == 1, apt_calls(fake_host)
    # What could be installed is there now, whatever failed before or after it.
    for tool in ("good-one", "good-two", "good-three"):
        assert (Path(fake_host["FAKE_BIN"]) / tool).exists(), f"{tool} was not installed"
    assert result.returncode == 1, "a package that is not there must fail the check"
    assert "missing: no-such-package; apt knows no such package here" in result.stderr, result.stderr
    assert "could not install breaks-on-install" in result.stderr, result.stderr


def test_the_first_alternative_apt_knows_is_installed(fake_host):
    check_deps(fake_host, "build")
    assert "unknown-package" not in " ".join(apt_calls(fake_host))
    assert "good-four" not in installs(fake_host), "the second alternative was installed beside the first"


def test_any_alternative_name_of_a_tool_will_do(fake_host):
    (Path(fake_host["FAKE_BIN"]) / "good-two").write_text("#!/bin/sh\n")
    (Path(fake_host["FAKE_BIN"]) / "good-two").chmod(0o755)
    check_deps(fake_host, "build")
    assert "good-two" not in installs(fake_host), "a tool present under its second name was installed again"


def test_only_the_purposes_asked_for_are_checked(fake_host):
    result = check_deps(fake_host, "book")
    assert installs(fake_host) == ["only-for-the-book"], result.stderr
    assert result.returncode == 0, result.stderr


def test_nothing_missing_calls_no_apt(fake_host):
    check_deps(fake_host, "book")
    calls = len(apt_calls(fake_host))
    result = check_deps(fake_host, "book")
    assert result.returncode == 0 and len(apt_calls(fake_host)) == calls, result.stderr


def test_without_root_it_only_names_the_install_command(fake_host):
    fake_host["FAKE_UID"] = "1000"
    result = check_deps(fake_host, "build")
    assert result.returncode == 1
    assert apt_calls(fake_host) == [], "apt-get ran without root and outside CI"
    assert ("missing: breaks-on-install good-one good-three good-two; install with: "
            "sudo apt-get install breaks-on-install good-one good-three good-two") in result.stderr, result.stderr


def test_an_unknown_purpose_is_refused(fake_host):
    result = check_deps(fake_host, "everything")
    assert result.returncode == 2 and "unknown purpose 'everything'" in result.stderr


def test_host_reads_the_alternatives_of_requirements_tsv():
    browser = next(r for r in host.requirements() if "chromium" in r.names)
    assert len(browser.names) > 1 and len(browser.packages) > 1, browser
    assert host.command("chromium") == next(filter(None, map(shutil.which, browser.names)), None)
