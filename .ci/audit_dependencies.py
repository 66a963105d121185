"""Audit the installed dependencies for known vulnerabilities (pip-audit, OSV database).

    .venv/bin/python .ci/audit_dependencies.py            # what .ci/run does
    .venv/bin/python .ci/audit_dependencies.py -r requirements.txt

Exit 1 on any vulnerability not in the allow-list (.ci/pip-audit-allow.txt: one id a line,
each with a `# reason`). When the vulnerability service cannot be reached, or answers for
almost none of the packages, it warns loudly and exits 0: a machine without the internet
must not fail CI for that alone, but it must not pass silently either. Anything else that
goes wrong (pip-audit itself failing) exits 2.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALLOW_LIST = HERE / "pip-audit-allow.txt"
# Signs in pip-audit's error output that the service, not the audit, failed.
UNREACHABLE = (
    "ConnectionError",
    "NameResolutionError",
    "Max retries exceeded",
    "ConnectTimeout",
    "ReadTimeout",
    "Could not connect",
    "ServiceError",
)
# Packages the service knew nothing about ("not found ... could not be audited"): a few is
# normal (our own package, private wheels); nearly all means the service is not answering
# (a proxy or mirror that serves packages but not their vulnerability data).
UNAUDITED_SHARE_MEANS_UNREACHABLE = 0.5


def read_allow_list(path: Path) -> dict[str, str]:
    """Vulnerability id -> the reason it is accepted. A line without a reason is refused."""
    allowed: dict[str, str] = {}
    if not path.exists():
        return allowed
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        vulnerability, _, reason = entry.partition("#")
        vulnerability, reason = vulnerability.strip(), reason.strip()
        if not reason or " " in vulnerability:
            raise SystemExit(
                f"{path}:{number}: write one id a line followed by '# why it is accepted'"
            )
        allowed[vulnerability] = reason
    return allowed


def warn(message: str) -> None:
    bar = "!" * 78
    print(f"{bar}\nWARNING: dependency audit not done: {message}\n{bar}", file=sys.stderr)


def _command(service: str, args: argparse.Namespace, allowed: dict[str, str]) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--format=json",
        "--progress-spinner=off",
        f"--vulnerability-service={service}",
        "--timeout=20",
    ]
    if args.osv_url:
        command.append(f"--osv-url={args.osv_url}")
    if args.requirement:
        command += ["--requirement", str(args.requirement), "--no-deps", "--disable-pip"]
    else:
        command += ["--local", "--skip-editable"]  # this environment, not our own package
    return command + [f"--ignore-vuln={vulnerability}" for vulnerability in allowed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allow-list", type=Path, default=ALLOW_LIST)
    parser.add_argument("--osv-url", help="another OSV query endpoint (tests use a fake)")
    parser.add_argument("-r", "--requirement", type=Path, help="audit pinned requirements")
    args = parser.parse_args(argv)
    allowed = read_allow_list(args.allow_list)

    # OSV first (it also covers what PyPI reports); PyPI's own feed if OSV is out of reach.
    services = ["osv"] if args.osv_url else ["osv", "pypi"]
    report, problem = None, ""
    for service in services:
        result = subprocess.run(  # noqa: S603
            _command(service, args, allowed), capture_output=True, text=True, check=False
        )
        try:
            report = json.loads(result.stdout)
            break
        except json.JSONDecodeError:
            if not any(sign in result.stderr for sign in UNREACHABLE):
                print(result.stderr, file=sys.stderr)
                print(f"pip-audit failed (exit {result.returncode})", file=sys.stderr)
                return 2
            last = result.stderr.strip().splitlines()[-1:] or ["(no message)"]
            problem += f"\n  {service}: {last[0]}"
    if report is None:
        warn(f"the vulnerability service could not be reached:{problem}")
        return 0

    dependencies = report.get("dependencies", [])
    findings = [
        (dependency["name"], dependency["version"], vulnerability)
        for dependency in dependencies
        for vulnerability in dependency.get("vulns", [])
    ]
    unaudited = [d for d in dependencies if "could not be audited" in d.get("skip_reason", "")]
    if findings:
        print("Known vulnerabilities (fix by upgrading, or allow in .ci/pip-audit-allow.txt):")
        for name, version, vulnerability in findings:
            fixed = ", ".join(vulnerability.get("fix_versions", [])) or "no fix yet"
            aliases = ", ".join(vulnerability.get("aliases", []))
            print(f"  {name} {version}: {vulnerability['id']} ({aliases}) fixed in: {fixed}")
        return 1
    audited = len(dependencies) - len(unaudited)
    if dependencies and len(unaudited) / len(dependencies) > UNAUDITED_SHARE_MEANS_UNREACHABLE:
        warn(
            f"the vulnerability service knew {audited} of {len(dependencies)} packages; "
            f"it is probably not reachable from here{problem}"
        )
        return 0
    print(
        f"Dependency audit: {audited} packages, no known vulnerabilities"
        + (f" ({len(allowed)} allowed: {', '.join(sorted(allowed))})" if allowed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
