#!/usr/bin/env node
// Compiles contracts/src/**/*.sol with the pinned solc (npm `solc`) into one JSON artifact per
// contract in contracts/artifacts/<Name>.json: { contractName, sourceName, abi, bytecode,
// deployedBytecode, linkReferences }. `--check` compiles into memory and fails when the
// committed artifacts differ (CI runs it), so artifacts always match the sources.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const root = __dirname;
const srcDir = path.join(root, "src");
const outDir = path.join(root, "artifacts");
const check = process.argv.includes("--check");

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith(".sol") ? [p] : [];
  });
}

const sources = {};
for (const file of walk(srcDir).sort()) {
  sources[path.relative(root, file).split(path.sep).join("/")] = { content: fs.readFileSync(file, "utf8") };
}
if (Object.keys(sources).length === 0) {
  console.error("no sources in contracts/src");
  process.exit(1);
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    viaIR: false,
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.bytecode.linkReferences", "evm.deployedBytecode.object"] } },
  },
};

function findImports(importPath) {
  for (const base of [root, path.join(root, "node_modules")]) {
    const p = path.join(base, importPath);
    if (fs.existsSync(p)) return { contents: fs.readFileSync(p, "utf8") };
  }
  return { error: `not found: ${importPath}` };
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) {
  if (e.severity === "error" || process.env.SOLC_WARNINGS) console.error(e.formattedMessage);
}
if (errors.length > 0) process.exit(1);

const artifacts = {};
for (const [sourceName, contracts] of Object.entries(output.contracts)) {
  if (!sourceName.startsWith("src/")) continue; // OpenZeppelin's own contracts are not ours to ship
  for (const [name, c] of Object.entries(contracts)) {
    if (!c.evm.bytecode.object) continue; // interfaces and abstract contracts
    if (c.abi.length === 0) continue; // internal-only libraries, inlined into their users
    if (artifacts[name]) {
      console.error(`two contracts named ${name}: ${artifacts[name].sourceName} and ${sourceName}`);
      process.exit(1);
    }
    artifacts[name] = {
      contractName: name,
      sourceName,
      compiler: `solc ${solc.version()}`,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      linkReferences: c.evm.bytecode.linkReferences,
    };
  }
}

const rendered = Object.fromEntries(Object.entries(artifacts).map(([n, a]) => [`${n}.json`, JSON.stringify(a, null, 2) + "\n"]));
if (check) {
  const existing = fs.existsSync(outDir) ? fs.readdirSync(outDir).filter((f) => f.endsWith(".json")) : [];
  const stale = [];
  for (const [file, text] of Object.entries(rendered)) {
    const p = path.join(outDir, file);
    if (!fs.existsSync(p) || fs.readFileSync(p, "utf8") !== text) stale.push(file);
  }
  for (const file of existing) if (!rendered[file]) stale.push(`${file} (no source)`);
  if (stale.length > 0) {
    console.error(`contracts/artifacts are stale; run \`node contracts/compile.js\`: ${stale.join(", ")}`);
    process.exit(1);
  }
  console.log(`contracts: ${Object.keys(rendered).length} artifacts match their sources (solc ${solc.version()})`);
} else {
  fs.mkdirSync(outDir, { recursive: true });
  for (const file of fs.readdirSync(outDir)) if (file.endsWith(".json") && !rendered[file]) fs.unlinkSync(path.join(outDir, file));
  for (const [file, text] of Object.entries(rendered)) fs.writeFileSync(path.join(outDir, file), text);
  console.log(`contracts: wrote ${Object.keys(rendered).length} artifacts (solc ${solc.version()})`);
}
