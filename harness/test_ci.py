"""The CI runs what the README tells a reader to run: .ci/run ends in the
README's test command, and every job of the GitHub workflow goes through
.ci/run, on Ubuntu and on Debian 12, the distributions the README names.
"""

from __future__ import annotations

import re

from chapters import REPOSITORY

CI_RUN = REPOSITORY / ".ci" / "run"
WORKFLOW = REPOSITORY / ".github" / "workflows" / "ci.yml"


def readme_test_command() -> str:
    """The test command of the README's "The two commands" block."""
    readme = (REPOSITORY / "README.md").read_text()
    block = re.search(r"## The two commands\n+```sh\n(.*?)```", readme, re.DOTALL)
    assert block, "README.md has no sh block under '## The two commands'"
    commands = [line.split("#")[0].strip() for line in block[1].splitlines()]
    tests = [command for command in commands if "test" in command]
    assert len(tests) == 1, f"README.md's two commands hold not one test command: {tests}"
    return tests[0]


def test_ci_run_ends_in_the_readme_test_command():
    lines = [line for line in CI_RUN.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert lines[-1] == f'{readme_test_command()} "$@"', f".ci/run ends in {lines[-1]!r}"


def test_every_workflow_job_runs_ci_run_on_the_distributions_the_readme_names():
    workflow = WORKFLOW.read_text()
    jobs = re.findall(r"^  (\w[\w-]*):\n", workflow.partition("\njobs:\n")[2], re.MULTILINE)
    runs = re.findall(r"^ +run: \.ci/run\b", workflow, re.MULTILINE)
    assert jobs and len(runs) == len(jobs), f"jobs {jobs}, but {len(runs)} steps run .ci/run"
    assert re.search(r"^ +runs-on: ubuntu-latest$", workflow, re.MULTILINE)
    assert re.search(r"^ +image: debian:12$", workflow, re.MULTILINE)
    readme = (REPOSITORY / "README.md").read_text()
    assert "`ubuntu-latest`" in readme and "`debian:12`" in readme, "the README does not name the CI's systems"
