#!/usr/bin/env bash
# Dependency vulnerability audit: pip-audit (in its own venv, pinned in
# requirements-audit.lock: its CacheControl conflicts with Rasa's) over
# requirements.lock. Findings triaged in security/audit-triage.yml are
# ignored; any other finding fails. Without a reachable vulnerability
# service (no internet) it says so plainly and, unless AUDIT_STRICT=1,
# does not fail the build: it has not checked anything.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-audit/bin/pip-audit ]; then
  "$(scripts/find-python310)" -m venv .venv-audit
  .venv-audit/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements-audit.lock 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
fi
ignores=()
if [ -f security/audit-triage.yml ]; then
  while read -r id; do ignores+=(--ignore-vuln "$id"); done < <(
    .venv/bin/python -c 'import datetime as d, yaml; [print(i["id"]) for i in yaml.safe_load(open("security/audit-triage.yml")) or [] if i.get("applies") != "yes" and str(i.get("expires", "")) >= d.date.today().isoformat()]')
fi
out=$(mktemp)
status=0
.venv-audit/bin/pip-audit -r requirements.lock --no-deps --disable-pip --progress-spinner off --format json \
  "${ignores[@]}" -o "$out" 2>/dev/null || status=$?
.venv/bin/python - "$out" "$status" <<'PY'
import json, os, sys
path, status = sys.argv[1], int(sys.argv[2])
try:
    report = json.load(open(path))
except (OSError, ValueError):
    report = {"dependencies": []}
deps = report.get("dependencies", [])
skipped = [d for d in deps if d.get("skip_reason")]
found = [(d["name"], d["version"], v["id"]) for d in deps for v in d.get("vulns", [])]
if not deps or len(skipped) == len(deps):
    banner = "!" * 78
    print(f"{banner}\n!! WARNING: DEPENDENCY AUDIT NOT RUN: the vulnerability service could not be reached\n"
          f"!! ({len(skipped)} of {len(deps)} packages unchecked). Nothing was checked; the last manual triage\n"
          f"!! is security/audit-triage.yml. Run `AUDIT_STRICT=1 scripts/audit.sh` where the network allows.\n{banner}")
    if os.environ.get("GITHUB_ACTIONS"):
        print("::warning title=Dependency audit NOT RUN::the vulnerability service could not be reached")
    sys.exit(1 if os.environ.get("AUDIT_STRICT") == "1" else 0)
print(f"audit: {len(deps) - len(skipped)} packages checked, {len(skipped)} skipped, {len(found)} untriaged findings")
for name, version, vid in found:
    print(f"  {name} {version}: {vid}")
sys.exit(1 if found else 0)
PY
