// Tokenizes .zp files with VS Code's own TextMate engine (vscode-textmate + Oniguruma) and prints,
// as JSON, the innermost scope of every character of each file ("\n" between lines).
// tests/test_editor_grammars.py compares this with its Python reading of the grammar, so the tests
// that run without Node are known to see what VS Code sees.
// Usage: node scripts/tokenize.js GRAMMAR.json FILE...   (after `npm install` in editors/vscode)
'use strict';
const fs = require('fs');
const path = require('path');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm')).buffer;
const onigLib = oniguruma.loadWASM(wasm).then(() => ({
  createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
  createOnigString: (s) => new oniguruma.OnigString(s),
}));

const [grammarPath, ...files] = process.argv.slice(2);
const registry = new vsctm.Registry({
  onigLib,
  loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, 'utf8'), path.resolve(grammarPath)),
});

registry.loadGrammar('source.zonepolicy').then((grammar) => {
  const out = {};
  for (const file of files) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const scopes = [];
    let stack = vsctm.INITIAL;
    lines.forEach((line, n) => {
      const result = grammar.tokenizeLine(line, stack);
      for (const token of result.tokens) {
        for (let i = token.startIndex; i < Math.min(token.endIndex, line.length); i++) {
          scopes.push(token.scopes[token.scopes.length - 1]);
        }
      }
      if (n < lines.length - 1) scopes.push('\n');
      stack = result.ruleStack;
    });
    out[file] = scopes;
  }
  process.stdout.write(JSON.stringify(out));
});
