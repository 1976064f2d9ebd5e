#!/usr/bin/env bash
# Offline checks of the chart helm/parley: helm lint, helm template (defaults, a 3-node NATS
# cluster, every option on), every rendered object validated against the Kubernetes schemas (kubernetes-models),
# and files/parley.json identical to config/parley.json. Tools go to build-deploy/ (git-ignored):
# Helm from helm/tools.sh, node packages kubernetes-models@4 and js-yaml@4 from npm.
#   helm/check.sh [OUT_DIR]     (the rendered manifests are written there, default build-deploy)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-build-deploy}
HELM=$(helm/tools.sh)
export HOME=$PWD/build-deploy   # helm's cache and config stay out of the real home
node_dir=build-deploy/node   # kubernetes-models, js-yaml: helm/tools.sh put them there
cmp -s config/parley.json helm/parley/files/parley.json ||
  { echo "helm/check.sh: helm/parley/files/parley.json differs from config/parley.json (copy it)"; exit 1; }
"$HELM" lint --strict helm/parley
mkdir -p "$OUT"
"$HELM" template parley helm/parley > "$OUT/parley.yaml"
"$HELM" template parley helm/parley --set nats.replicas=3 --set nlu.replicas=4 --set dialog.replicas=2 \
  > "$OUT/parley-cluster.yaml"
grep -q 'PARLEY_DIALOG_SHARD=\\"${HOSTNAME##\*-}' "$OUT/parley-cluster.yaml" &&
  grep -A1 'name: PARLEY_DIALOG_SHARDS' "$OUT/parley-cluster.yaml" | grep -q '"2"' ||
  { echo "helm/check.sh: dialog pods do not get their shard from the pod ordinal"; exit 1; }
"$HELM" template parley helm/parley --set nats.replicas=3 --set autoscaling.enabled=true \
  --set dialog.webhooks.weather=http://weather.example:8080/hook \
  --set 'gateway.apiKeys={key1 alice,key2}' --set gateway.tls.secretName=parley-tls \
  --set gateway.tls.clientCa.secretName=parley-ca --set gateway.tls.http=true \
  --set gateway.tls.httpClientCa.secretName=parley-web-ca --set gateway.tls.httpClientCa.key=web-ca.pem \
  --set-json 'networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]' \
  --set asr.gpu.enabled=true --set asr.gpu.count=2 \
  > "$OUT/parley-full.yaml"
# asr.gpu: parley-asr's pods request the GPUs, run the CUDA tag with device cuda; no other pod does.
[[ $(grep -c 'nvidia.com/gpu: 2$' "$OUT/parley-full.yaml") == 1 ]] &&
  grep -q 'image: localhost/parley:cuda$' "$OUT/parley-full.yaml" &&
  grep -q 'name: PARLEY_ASR_DEVICE, value: cuda' "$OUT/parley-full.yaml" &&
  ! grep -q 'nvidia.com/gpu' "$OUT/parley.yaml" ||
  { echo "helm/check.sh: asr.gpu does not request nvidia.com/gpu for parley-asr alone"; exit 1; }
# gateway.tls: both client CAs mounted and named; the HTTP port's probes cannot show a client
# certificate, so they only connect; without the HTTP port's CA, HTTPS probes; by default HTTP.
grep -q 'name: PARLEY_GATEWAY_TLS_CLIENT_CA, value: /etc/parley-client-ca/ca.crt' "$OUT/parley-full.yaml" &&
  grep -q 'name: PARLEY_GATEWAY_HTTP_TLS, value: "true"' "$OUT/parley-full.yaml" &&
  grep -q 'name: PARLEY_GATEWAY_HTTP_TLS_CLIENT_CA, value: /etc/parley-http-client-ca/web-ca.pem' "$OUT/parley-full.yaml" &&
  grep -q 'secretName: parley-web-ca' "$OUT/parley-full.yaml" &&
  [[ $(grep -c 'tcpSocket: {port: http}' "$OUT/parley-full.yaml") == 2 ]] &&
  "$HELM" template parley helm/parley --set gateway.tls.secretName=parley-tls --set gateway.tls.http=true |
    grep -q 'httpGet: {path: /readyz, port: http, scheme: HTTPS}' &&
  grep -q 'httpGet: {path: /readyz, port: http}' "$OUT/parley.yaml" &&
  ! grep -q 'PARLEY_GATEWAY_HTTP_TLS' "$OUT/parley.yaml" ||
  { echo "helm/check.sh: gateway.tls (client CAs, the HTTP port's TLS, its probes) renders wrong"; exit 1; }
grep -A1 'name: PARLEY_WEBHOOK_WEATHER' "$OUT/parley-full.yaml" | grep -q 'weather.example' ||
  { echo "helm/check.sh: dialog.webhooks.weather does not reach parley-dialog"; exit 1; }
for f in "$OUT/parley.yaml" "$OUT/parley-cluster.yaml" "$OUT/parley-full.yaml"; do
  echo "== $f"
  NODE_PATH=$PWD/$node_dir/node_modules node helm/validate.js < "$f"
done
# Values the schema must refuse.
for bad in dialog.replicas=257 qa.replicas=3 nats.replicas=2 nats.externalUrl=localhost:4222 logLevel=loud \
           networkPolicy.metricsFrom=monitoring \
           dialog.webhooks.weather=ftp://x asr.gpu.count=0 nlu.gpu.enabled=true \
           gateway.tls.http=true gateway.tls.clientCa.secretName=ca gateway.tls.httpClientCa.secretName=ca \
           gateway.tls.httpClientCa.key=../x; do
  if "$HELM" template parley helm/parley --set "$bad" >/dev/null 2>&1; then
    echo "helm/check.sh: values.schema.json accepted $bad"; exit 1
  fi
done
echo "helm/check.sh: chart OK"
