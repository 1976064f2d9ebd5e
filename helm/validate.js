// Validates every object of rendered manifests (helm template output, YAML on stdin) against
// the Kubernetes schemas of the npm package kubernetes-models (helm/check.sh installs it into
// build-deploy/node). Prints one line per object; exit 1 when any fails.
const yaml = require("js-yaml");
const fs = require("fs");
const docs = yaml.loadAll(fs.readFileSync(0, "utf8")).filter((d) => d);
let bad = 0;
for (const d of docs) {
  const [group, version] = d.apiVersion.includes("/") ? d.apiVersion.split("/") : ["", d.apiVersion];
  const mod = group === "" ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`;
  const name = `${d.kind}/${d.metadata && d.metadata.name}`;
  try {
    const Model = require(mod)[d.kind];
    if (!Model) throw new Error(`no model for ${d.apiVersion} ${d.kind}`);
    new Model(d).validate();
    console.log(`ok    ${name}`);
  } catch (e) {
    bad++;
    console.log(`FAIL  ${name}: ${e.message}`);
  }
}
console.log(`${docs.length} objects, ${bad} invalid`);
process.exit(bad ? 1 : 0);
