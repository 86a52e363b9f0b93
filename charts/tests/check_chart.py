"""Renders charts/wagate with Helm's own Go library (helm-python-sdk) and checks it.

For the default values and every examples/values/*.yaml: values.schema.json accepts them,
`helm lint --strict` finds no warning or error, and every rendered object validates against
the Kubernetes 1.33 schemas in strict mode (kubernetes-validate; the ServiceMonitor, a
Prometheus Operator CRD, only for its shape). Bad values are rejected by the schema. The
chart's CRD is byte-identical to crds/. Writes the rendered manifests (one file per values
set) and the chart's Role rules (JSON) into the output folder for the Rust side
(kubectl --dry-run, RBAC versus the calls the binaries make).

Usage: check_chart.py <repo root> <output folder>
"""

import json
import pathlib
import sys

import kubernetes_validate
import yaml
from helm_python.chart import Chart, lint

KUBE_VERSION = "1.33"
root, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
chart_dir = root / "charts" / "wagate"
out.mkdir(parents=True, exist_ok=True)
chart = Chart.load(str(chart_dir))
failures = []

value_sets = {"default": {}}
for path in sorted((root / "examples").glob("values/*.yaml")):
    value_sets[path.stem] = yaml.safe_load(path.read_text()) or {}

roles = {}
for name, values in value_sets.items():
    chart.validate_schema(values)
    report = lint(str(chart_dir), values, strict=True, namespace="wagate", kube_version="v1.33.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    if problems:
        failures.append(f"lint {name}: {problems}")
    rendered = chart.render(values, name="wagate", namespace="wagate", is_install=True)
    docs = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            docs.append(doc)
            if doc["kind"] == "ServiceMonitor":
                if not doc["spec"]["endpoints"] or not doc["spec"]["selector"]["matchLabels"]:
                    failures.append(f"{name}: ServiceMonitor without endpoints/selector")
                continue
            try:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            except Exception as e:  # noqa: BLE001 - report every object, not just the first
                failures.append(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {e}")
            if doc["kind"] == "Role":
                roles[doc["metadata"]["name"]] = doc["rules"]
    (out / f"{name}.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    print(f"{name}: {len(docs)} objects rendered and validated")

for bad in [
    {"router": {"replicas": "three"}},
    {"image": {"pullPolicy": "Sometimes"}},
    {"surprise": True},
    {"router": {"publicUrl": "ftp://nope"}},
]:
    try:
        chart.validate_schema(bad)
        failures.append(f"values.schema.json accepted {bad}")
    except Exception:  # noqa: BLE001
        pass

if (chart_dir / "crds" / "whatsappsession.yaml").read_bytes() != (
    root / "crds" / "whatsappsession.yaml"
).read_bytes():
    failures.append("charts/wagate/crds/whatsappsession.yaml differs from crds/ (copy it over)")

(out / "roles.json").write_text(json.dumps(roles, indent=2, sort_keys=True))
if failures:
    print("\n".join(failures))
    sys.exit(1)
print("chart ok")
