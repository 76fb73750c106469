// Validates Vega-Lite specs against the Vega-Lite JSON schema (ajv), compiles
// them with the real vega-lite package and renders them to SVG with vega, all in
// one process, so dlnlab's tests can check that every spec
// the library produces is valid.
//
// Usage: node render.mjs NODE_MODULES_DIR SPECS.json OUT_DIR
//   SPECS.json holds [{"name": "...", "spec": {...Vega-Lite...}}, ...].
//   Writes OUT_DIR/<name>.svg for each spec that renders and prints one JSON
//   object on stdout: {"<name>": {"ok": bool, "error": str|null,
//   "warnings": [str ...]}, ...}. Exits 0 when every spec rendered without an
//   error, 1 when one failed, 2 on bad usage or missing packages.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [modulesDir, specsFile, outDir] = process.argv.slice(2);
if (!modulesDir || !specsFile || !outDir) {
  console.error('usage: node render.mjs NODE_MODULES_DIR SPECS.json OUT_DIR');
  process.exit(2);
}

// Resolve the packages from the scratch install, not from this script's folder.
const require = createRequire(join(resolve(modulesDir), 'dlnlab-resolver.js'));
let vega, vl, Ajv, schema;
try {
  vega = require('vega');
  vl = require('vega-lite');
  Ajv = require('ajv');
  schema = require('vega-lite/build/vega-lite-schema.json');
} catch (e) {
  console.error(`cannot load vega / vega-lite from ${modulesDir}: ${e.message}; run test/js/setup.sh`);
  process.exit(2);
}

function collectingLogger(warnings, errors) {
  let level = vega.Warn;
  const text = (args) => args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
  return {
    level(l) { if (l === undefined) return level; level = l; return this; },
    error(...a) { errors.push(text(a)); return this; },
    warn(...a) { warnings.push(text(a)); return this; },
    info() { return this; },
    debug() { return this; },
  };
}

// Formats (uri, color-hex) are not checked: the schema's structure is what matters.
const validate = new Ajv({ strict: false, validateFormats: false, logger: false }).compile(schema);

const specs = JSON.parse(readFileSync(specsFile, 'utf8'));
mkdirSync(outDir, { recursive: true });
const report = {};
let failed = false;
for (const { name, spec } of specs) {
  const warnings = [];
  const errors = [];
  const logger = collectingLogger(warnings, errors);
  try {
    if (!validate(spec)) {
      const first = (validate.errors || []).slice(0, 5)
        .map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`).join('; ');
      throw new Error(`not valid against the Vega-Lite schema: ${first}`);
    }
    const compiled = vl.compile(spec, { logger }).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger, logLevel: vega.Warn });
    await view.runAsync();
    const svg = await view.toSVG();
    view.finalize();
    writeFileSync(join(outDir, `${name}.svg`), svg);
    const error = errors.length ? errors.join('; ') : null;
    if (error) failed = true;
    report[name] = { ok: !error, error, warnings };
  } catch (e) {
    failed = true;
    report[name] = { ok: false, error: String(e && e.stack ? e.stack : e), warnings };
  }
}
process.stdout.write(JSON.stringify(report));
process.exit(failed ? 1 : 0);
