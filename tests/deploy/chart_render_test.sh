#!/usr/bin/env bash
# Renders deploy/helm/tollgate for the main value combinations (defaults; 3 replicas on
# PostgreSQL; cert-manager; classic sidecar; monitoring; pod-annotation opt-in; JWKS set) with
# tests/deploy/render_chart.go (text/template + sprig, as Helm) and checks the objects: kinds,
# webhook registration, generated certificate chain, the control plane's config, and that
# impossible combinations fail with a clear message. Exits 77 without go or sprig.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CHART=$ROOT/deploy/helm/tollgate
export GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS=
if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/github.com/Masterminds/sprig ] ||
   ! python3 -c 'import yaml' 2>/dev/null; then
  echo "skipped: needs go, golang-github-masterminds-sprig-dev and python3-yaml"
  exit 77
fi
WORK=$(mktemp -d /tmp/tollgate-chart-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export GOCACHE=$WORK/gocache
go build -o "$WORK/render" "$ROOT/tests/deploy/render_chart.go"

render() {  # render NAME [render flags...]: writes $WORK/NAME.yaml, fails the test on error
  local name=$1; shift
  if ! "$WORK/render" -chart "$CHART" -name tollgate -namespace tollgate-system "$@" \
      > "$WORK/$name.yaml" 2> "$WORK/$name.err"; then
    echo "FAIL: rendering $name: $(cat "$WORK/$name.err")"; exit 1
  fi
}
cat > "$WORK/values-jwks.yaml" <<'V'
identity:
  jwks: '{"keys":[{"kty":"RSA","kid":"k1","n":"AQAB","e":"AQAB"}]}'
  groupRoles: {platform-admins: [admin]}
  bootstrapTokenSecret: tollgate-bootstrap
credentials: {existingSecret: tollgate-db-credentials}
V
render defaults
render postgres --set controlPlane.replicas=3 --set audit.backend=postgres \
  --set audit.postgres.existingSecret=tollgate-audit-db
render certmanager --set webhook.certManager.enabled=true
render classic --set injection.mode=classic --set 'injection.excludeCidrs={10.96.0.1/32}'
render monitoring --set monitoring.serviceMonitor.enabled=true
render annotated --set injection.podAnnotationOptIn.enabled=true
render jwks -f "$WORK/values-jwks.yaml"
"$WORK/render" -chart "$CHART" -namespace tollgate-system -notes > "$WORK/notes.txt"

# Combinations that cannot work must fail, saying why.
expect_failure() {  # expect_failure MESSAGE_PART FLAGS...
  local part=$1; shift
  if "$WORK/render" -chart "$CHART" "$@" > /dev/null 2> "$WORK/fail.err"; then
    echo "FAIL: rendering with $* succeeded"; exit 1
  fi
  grep -qF -- "$part" "$WORK/fail.err" || { echo "FAIL: error for $* lacks '$part': $(cat "$WORK/fail.err")"; exit 1; }
  echo "ok: $* refused: $(grep -o "$part.*" "$WORK/fail.err" | head -c 100)"
}
expect_failure "needs audit.backend: postgres" --set controlPlane.replicas=3
expect_failure "needs audit.postgres.existingSecret" --set audit.backend=postgres
expect_failure "injection.mode must be native or classic" --set injection.mode=sidecar

python3 - "$WORK" <<'PY'
import base64, subprocess, sys, yaml
work = sys.argv[1]
passed = 0
def load(name):
    docs = [d for d in yaml.safe_load_all(open(f"{work}/{name}.yaml")) if d]
    for d in docs:
        assert d.get("apiVersion") and d.get("kind") and d["metadata"].get("name"), d
    return docs
def find(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found[0] if found else None
def check(cond, what):
    global passed
    if not cond:
        print("FAIL:", what); sys.exit(1)
    passed += 1
def cpconfig(docs):
    return yaml.safe_load(find(docs, "ConfigMap", "tollgate-config")["data"]["controlplane.yaml"])

# Defaults: one replica on SQLite with a volume, generated certificates.
d = load("defaults")
kinds = sorted(x["kind"] for x in d)
for k in ["ConfigMap", "Deployment", "PersistentVolumeClaim", "Service", "ServiceAccount",
          "Secret", "MutatingWebhookConfiguration", "PodDisruptionBudget", "NetworkPolicy"]:
    check(k in kinds, f"defaults render a {k} (got {kinds})")
check(find(d, "ServiceMonitor") is None, "no ServiceMonitor by default")
dep = find(d, "Deployment")
check(dep["spec"]["replicas"] == 1, "one replica")
check(dep["spec"]["strategy"]["type"] == "Recreate", "SQLite: Recreate strategy")
pod = dep["spec"]["template"]["spec"]
vols = {v["name"]: v for v in pod["volumes"]}
check(vols["data"]["persistentVolumeClaim"]["claimName"] == "tollgate-data", "data on the PVC")
check(pod["securityContext"]["runAsNonRoot"] is True, "control plane runs as non-root")
# fsGroup re-chmods volumes (group rw) on every mount unless told to do it only on a mismatch;
# a group-writable signing key stops the control plane.
check("fsGroup" not in pod["securityContext"] or
      pod["securityContext"].get("fsGroupChangePolicy") == "OnRootMismatch",
      "fsGroup comes with fsGroupChangePolicy: OnRootMismatch")
check(pod["automountServiceAccountToken"] is False, "no API token mounted")
c = pod["containers"][0]
check(c["securityContext"]["readOnlyRootFilesystem"] is True, "read-only root fs")
check(dep["spec"]["template"]["metadata"]["labels"]["tollgate.io/inject"] == "disabled",
      "control plane pods opt out of injection")
check(len(dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]) == 64,
      "config checksum annotation")
ports = {p["name"]: p for p in find(d, "Service")["spec"]["ports"]}
check(ports["webhook"]["port"] == 443 and ports["grpc"]["port"] == 15090, "service ports")
cfg = cpconfig(d)
check(cfg["webhook"]["mode"] == "native", "native injection by default")
check(cfg["webhook"]["namespace"] == "tollgate-system", "webhook knows its own namespace")
check(cfg["webhook"]["controlPlaneAddress"] == "tollgate.tollgate-system.svc:15090",
      "sidecars get the Service address")
check(cfg["webhook"]["tokenAudience"] == "tollgate" and cfg["webhook"]["tokenExpiry"] == "10m",
      "token audience and expiry")
check(cfg["identity"]["issuers"] == [], "no workload issuer without JWKS")
check(cfg["audit"]["retention"] == "8760h" and "backend" not in cfg["audit"], "SQLite audit")
mwc = find(d, "MutatingWebhookConfiguration")
check(len(mwc["webhooks"]) == 1, "one webhook by default")
w = mwc["webhooks"][0]
check(w["failurePolicy"] == "Fail" and w["sideEffects"] == "None", "Fail / None")
check(w["admissionReviewVersions"] == ["v1"], "v1 reviews")
check(w["rules"] == [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                      "resources": ["pods"], "scope": "Namespaced"}], "pod CREATE rule")
check(w["clientConfig"]["service"] == {"name": "tollgate", "namespace": "tollgate-system",
                                       "path": "/mutate", "port": 443}, "service reference")
exprs = w["namespaceSelector"]["matchExpressions"]
check({"key": "tollgate.io/inject", "operator": "In", "values": ["enabled"]} in exprs,
      "namespace opt-in selector")
never = [e for e in exprs if e["key"] == "kubernetes.io/metadata.name"][0]
check(never["operator"] == "NotIn" and {"kube-system", "tollgate-system"} <= set(never["values"]),
      "kube-system and the release namespace never injected")
check(w["objectSelector"]["matchExpressions"] ==
      [{"key": "tollgate.io/inject", "operator": "NotIn", "values": ["disabled"]}], "opt-out selector")
# The caBundle verifies the serving certificate, which names the Service.
secret = find(d, "Secret", "tollgate-tls")
ca = base64.b64decode(w["clientConfig"]["caBundle"])
check(ca == base64.b64decode(secret["data"]["ca.crt"]), "caBundle is the secret's CA")
open(f"{work}/ca.pem", "wb").write(ca)
open(f"{work}/tls.pem", "wb").write(base64.b64decode(secret["data"]["tls.crt"]))
v = subprocess.run(["openssl", "verify", "-CAfile", f"{work}/ca.pem", f"{work}/tls.pem"],
                   capture_output=True, text=True)
check(v.returncode == 0, f"generated certificate chains to the caBundle: {v.stdout}{v.stderr}")
txt = subprocess.run(["openssl", "x509", "-in", f"{work}/tls.pem", "-noout", "-text"],
                     capture_output=True, text=True).stdout
check("DNS:tollgate.tollgate-system.svc" in txt, "certificate names the Service")
check(find(d, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1, "PDB")
np = find(d, "NetworkPolicy")
check(np["spec"]["policyTypes"] == ["Ingress"] and len(np["spec"]["ingress"]) == 3, "NetworkPolicy")
print("ok: defaults")

d = load("postgres")
dep = find(d, "Deployment")
check(dep["spec"]["replicas"] == 3, "three replicas")
check("strategy" not in dep["spec"], "rolling update with PostgreSQL")
check(find(d, "PersistentVolumeClaim") is None, "no PVC with PostgreSQL")
vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
check(vols["audit-db"]["secret"]["secretName"] == "tollgate-audit-db", "DSN secret mounted")
check("emptyDir" in vols["data"], "scratch data dir")
cfg = cpconfig(d)
check(cfg["audit"]["backend"] == "postgres" and cfg["audit"]["dsnFile"] ==
      "/etc/tollgate/audit-db/dsn", "PostgreSQL audit settings")
check(cfg["audit"]["keyFile"] == "/etc/tollgate/audit-db/signing-key.pem",
      "replicas share the checkpoint signing key")
print("ok: 3 replicas + PostgreSQL")

d = load("certmanager")
check(find(d, "Secret") is None, "no generated secret with cert-manager")
cert = find(d, "Certificate", "tollgate-tls")
check(cert["spec"]["secretName"] == "tollgate-tls", "certificate writes the mounted secret")
check("tollgate.tollgate-system.svc" in cert["spec"]["dnsNames"], "certificate DNS names")
check(cert["spec"]["issuerRef"] == {"name": "tollgate-ca", "kind": "Issuer"}, "CA issuer")
check(find(d, "Issuer", "tollgate-selfsigned") and find(d, "Certificate", "tollgate-ca")["spec"]["isCA"],
      "self-signed CA chain")
mwc = find(d, "MutatingWebhookConfiguration")
check(mwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] ==
      "tollgate-system/tollgate-tls", "cert-manager injects the caBundle")
check("caBundle" not in mwc["webhooks"][0]["clientConfig"], "no static caBundle")
print("ok: cert-manager")

d = load("classic")
cfg = cpconfig(d)
check(cfg["webhook"]["mode"] == "classic", "classic mode reaches the webhook")
check(cfg["webhook"]["excludeCidrs"] == ["10.96.0.1/32"], "excluded CIDRs reach the webhook")
print("ok: classic sidecar")

d = load("monitoring")
sm = find(d, "ServiceMonitor")
check(sm is not None and sm["spec"]["endpoints"][0]["port"] == "admin" and
      sm["spec"]["endpoints"][0]["path"] == "/metrics", "ServiceMonitor scrapes /metrics")
print("ok: monitoring")

d = load("annotated")
hooks = find(d, "MutatingWebhookConfiguration")["webhooks"]
check(len(hooks) == 2, "second webhook for pod annotations")
check(hooks[1]["clientConfig"]["service"]["path"] == "/mutate-annotated", "annotation path")
check(hooks[1]["failurePolicy"] == "Ignore", "annotation webhook fails open by default")
check({"key": "tollgate.io/inject", "operator": "NotIn", "values": ["enabled"]} in
      hooks[1]["namespaceSelector"]["matchExpressions"], "no double injection in labelled namespaces")
print("ok: pod annotation opt-in")

d = load("jwks")
cfg = cpconfig(d)
check(cfg["identity"]["issuers"][0]["jwksFile"] == "/etc/tollgate/jwks/jwks.json", "workload issuer")
check(cfg["identity"]["groupRoles"] == {"platform-admins": ["admin"]}, "group roles")
check(cfg["identity"]["bootstrapTokenFile"] == "/etc/tollgate/bootstrap/token", "bootstrap token")
check(cfg["credentialsDir"] == "/etc/tollgate/credentials", "credentials dir")
check("keys" in find(d, "ConfigMap", "tollgate-jwks")["data"]["jwks.json"], "JWKS ConfigMap")
mounts = {m["name"] for m in find(d, "Deployment")["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
check({"jwks", "bootstrap", "credentials"} <= mounts, "identity material mounted")
print("ok: JWKS, bootstrap token, credentials")

# The control plane itself accepts every rendered config (syntax, keys, values).
import os
binary = os.path.join(os.environ.get("TOLLGATE_BIN_DIR", ""), "tollgate-controlplane")
if os.access(binary, os.X_OK):
    for name in ["defaults", "certmanager", "classic", "monitoring", "annotated", "jwks"]:
        path = f"{work}/{name}-controlplane.yaml"
        with open(path, "w") as f:
            f.write(find(load(name), "ConfigMap", "tollgate-config")["data"]["controlplane.yaml"])
        r = subprocess.run([binary, "--config", path, "--check-config"], capture_output=True,
                           text=True)
        check(r.returncode == 0, f"control plane accepts the {name} config: {r.stderr.strip()}")
    print("ok: the control plane accepts the rendered configs")
else:
    print("note: tollgate-controlplane not built; rendered configs not checked against it")

notes = open(f"{work}/notes.txt").read()
check("tollgate.io/inject=enabled" in notes and "identity.jwks is empty" in notes, "NOTES")
print(f"{passed} checks passed")
PY
echo "chart render: all combinations ok"
