/* userapi: validate the AsyncAPI document of /ws with @asyncapi/parser; any error or warning fails. */
"use strict";

/*
 *   node tests/lint/asyncapi.js FILE
 *
 * Prints every diagnostic of the parser (its schema and its spectral rules)
 * with its path; exit status 0 when there is no error and no warning, 1
 * otherwise, 2 on bad usage. Informational notes and hints are printed only.
 */

const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

const SEVERITY = ["error", "warning", "info", "hint"];

async function main() {
	const file = process.argv[2];

	if (!file || process.argv.length !== 3) {
		console.error("usage: node tests/lint/asyncapi.js FILE");
		return 2;
	}
	const text = fs.readFileSync(file, "utf8");
	const { document, diagnostics } = await new Parser().parse(text,
	    { source: file });
	let bad = 0;

	for (const d of diagnostics) {
		const sev = SEVERITY[d.severity] || String(d.severity);
		if (d.severity <= 1)
			bad++;
		console.log(`${file}: ${sev} ${d.code}: ${d.message} at ` +
		    `/${(d.path || []).join("/")}`);
	}
	if (document === undefined) {
		console.log(`${file}: not a valid AsyncAPI document`);
		return 1;
	}
	console.log(`${file}: AsyncAPI ${document.version()}, ` +
	    `${document.channels().length} channel(s), ` +
	    `${document.operations().length} operation(s), ` +
	    `${document.allMessages().length} message(s); ` +
	    `${bad} error(s) or warning(s)`);
	return bad === 0 ? 0 : 1;
}

main().then((rc) => { process.exitCode = rc; }, (e) => {
	console.error(e.stack || String(e));
	process.exitCode = 1;
});
