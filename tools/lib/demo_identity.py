#!/usr/bin/python3
"""Demo identity provider: plays the Kubernetes API server (projected ServiceAccount tokens) and
a company IdP (OIDC ID tokens with groups) for tools/demo, with keys it generates itself.

  demo_identity.py init DIR                      RSA keys + JWKS files for both issuers
  demo_identity.py workload DIR NS SA POD UID    a pod-bound token, audience "tollgate", 1 h
  demo_identity.py human DIR SUB GROUP...        an ID token, audience "tollgatectl", 1 h

Only the standard library and the openssl command are used. Demo use only: real clusters and
IdPs sign their own tokens.
"""
import base64
import json
import os
import subprocess
import sys
import time

K8S_ISSUER = "https://kubernetes.default.svc.cluster.local"
IDP_ISSUER = "https://idp.demo.tollgate"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def run(*args, stdin=None) -> bytes:
    return subprocess.run(args, input=stdin, check=True, capture_output=True).stdout


def jwk(key_path: str, kid: str) -> dict:
    modulus = run("openssl", "rsa", "-in", key_path, "-noout", "-modulus").decode()
    n = bytes.fromhex(modulus.strip().split("=", 1)[1])
    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": b64url(n), "e": "AQAB"}


def init(d: str) -> None:
    os.makedirs(d, exist_ok=True)
    for name in ("k8s", "idp"):
        key = os.path.join(d, name + "-key.pem")
        if not os.path.exists(key):
            run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", key)
            os.chmod(key, 0o600)
        with open(os.path.join(d, name + "-jwks.json"), "w") as f:
            json.dump({"keys": [jwk(key, name + "-1")]}, f)


def sign(d: str, name: str, claims: dict) -> str:
    header = {"alg": "RS256", "typ": "JWT", "kid": name + "-1"}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = run("openssl", "dgst", "-sha256", "-sign", os.path.join(d, name + "-key.pem"),
              stdin=signing_input.encode())
    return signing_input + "." + b64url(sig)


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, d = sys.argv[1], sys.argv[2]
    now = int(time.time())
    if cmd == "init":
        init(d)
    elif cmd == "workload" and len(sys.argv) == 7:
        ns, sa, pod, uid = sys.argv[3:7]
        print(sign(d, "k8s", {
            "iss": K8S_ISSUER, "sub": f"system:serviceaccount:{ns}:{sa}", "aud": ["tollgate"],
            "iat": now, "nbf": now, "exp": now + 3600,
            "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": sa, "uid": "sa-" + sa},
                              "pod": {"name": pod, "uid": uid}}}))
    elif cmd == "human" and len(sys.argv) >= 4:
        sub, groups = sys.argv[3], sys.argv[4:]
        print(sign(d, "idp", {
            "iss": IDP_ISSUER, "sub": sub, "aud": "tollgatectl", "email": sub + "@demo.example",
            "iat": now, "exp": now + 3600, "groups": groups}))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
