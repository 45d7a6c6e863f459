// Compiles src/*.sol with the pinned solc (npm) into out/<Contract>.json ({abi, bytecode}).
// `node build.js --check` compiles and fails if out/ differs: the committed artifacts are
// what the Rust build embeds, so Rust needs no Node.js.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const CONTRACTS = ["DASigners", "DAEntrance", "DASampling", "Flow"];
const here = __dirname;
const src = path.join(here, "src");
const out = path.join(here, "out");
const check = process.argv.includes("--check");

const sources = {};
for (const f of fs.readdirSync(src).filter((f) => f.endsWith(".sol")).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(src, f), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    evmVersion: "prague",
    viaIR: true,
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const result = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (result.errors || []).filter((e) => e.severity === "error");
for (const e of result.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

let stale = [];
for (const name of CONTRACTS) {
  const c = result.contracts[`${name}.sol`][name];
  const artifact = {
    contractName: name,
    compiler: `solc ${solc.version()}`,
    abi: c.abi,
    bytecode: "0x" + c.evm.bytecode.object,
  };
  const text = JSON.stringify(artifact, null, 2) + "\n";
  const file = path.join(out, `${name}.json`);
  if (check) {
    if (!fs.existsSync(file) || fs.readFileSync(file, "utf8") !== text) stale.push(file);
  } else {
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(file, text);
    console.log(`${name}: ${c.evm.bytecode.object.length / 2} bytes of init code`);
  }
}
if (stale.length) {
  console.error(`out of date (run node chain/contracts/build.js): ${stale.join(", ")}`);
  process.exit(1);
}
