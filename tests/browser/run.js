/* userapi: browser tests of /docs, /redoc and the demo page in Debian's chromium, driven by playwright-core. */
"use strict";

/*
 * Run by tests/e2e/test_browser.py against a service it started:
 *
 *   USERAPI_URL=http://127.0.0.1:PORT USERAPI_ARTIFACTS=DIR \
 *   USERAPI_DOCS_EMAIL=... USERAPI_DOCS_PASSWORD=... node tests/browser/run.js
 *
 * Optional: CHROMIUM (default /usr/bin/chromium), USERAPI_BROWSER_ONLY (a
 * test name). Every test runs in a new page of one fresh profile; a page
 * fails its test when it logs a console error, throws, violates its CSP,
 * fails a request or gets an HTTP error the test did not expect. A
 * screenshot of each page goes to USERAPI_ARTIFACTS. Exit status 0 when
 * every test passed, 1 otherwise, 2 on bad usage.
 */

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const BASE = process.env.USERAPI_URL;
const ARTIFACTS = process.env.USERAPI_ARTIFACTS;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const DOCS_EMAIL = process.env.USERAPI_DOCS_EMAIL;
const DOCS_PASSWORD = process.env.USERAPI_DOCS_PASSWORD;
const ONLY = process.env.USERAPI_BROWSER_ONLY || "";

/* A quiet, offline browser: nothing but our pages touches the network. */
const FLAGS = [
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync"
];

const TIMEOUT = 20000;		/* ms for one step */

const tests = [];

function test(name, fn) {
	tests.push({ name: name, fn: fn });
}

function check(cond, what) {
	if (!cond)
		throw new Error("check failed: " + what);
}

function shot(page, name) {
	return page.screenshot({ path: path.join(ARTIFACTS, name + ".png"),
	    fullPage: false });
}

/*
 * Everything a page does wrong. expect(status) allows one HTTP error
 * answer of that status (and the console line Chromium writes for it).
 */
function watch(page) {
	const w = { problems: [], allowed: [], logged: [] };

	w.expect = (status) => {
		w.allowed.push(status);
		w.logged.push(status);
	};
	page.on("console", (m) => {
		const text = m.text();
		const failed = /^Failed to load resource: the server responded with a status of (\d+)/.exec(text);
		const i = failed ? w.logged.indexOf(Number(failed[1])) : -1;

		if (m.type() !== "error")
			return;
		if (i !== -1) {
			w.logged.splice(i, 1);
			return;
		}
		w.problems.push("console error: " + text);
	});
	page.on("pageerror", (e) => w.problems.push("uncaught: " + e.message));
	page.on("requestfailed", (r) => w.problems.push("request failed: " +
	    r.method() + " " + r.url() + ": " + r.failure().errorText));
	page.on("response", (r) => {
		const i = w.allowed.indexOf(r.status());

		if (r.status() < 400)
			return;
		if (i === -1) {
			w.problems.push("HTTP " + r.status() + " for " +
			    r.request().method() + " " + r.url());
			return;
		}
		w.allowed.splice(i, 1);
	});
	w.finish = async () => {
		const csp = await page.evaluate(() => window.__cspViolations || []);

		for (const v of csp)
			w.problems.push("CSP violation: " + v);
		if (w.problems.length > 0)
			throw new Error("the page had problems:\n  " +
			    w.problems.join("\n  "));
	};
	return w;
}

/* --- /docs: Swagger UI ---------------------------------------------------- */

test("docs", async (page, w) => {
	await page.goto(BASE + "/docs");
	await page.locator(".swagger-ui .info .title").filter({
		hasText: "userapi" }).waitFor();
	await page.locator("#operations-users-read_users_me").waitFor();
	await shot(page, "docs");

	/* Authorize: the OAuth2 password flow against POST /token. */
	await page.locator(".auth-wrapper button.authorize").click();
	const modal = page.locator(".dialog-ux .modal-ux");
	await modal.waitFor();
	await modal.locator("#oauth_username").fill(DOCS_EMAIL);
	await modal.locator("#oauth_password").fill(DOCS_PASSWORD);
	const [tr] = await Promise.all([
		page.waitForResponse((r) => r.url() === BASE + "/token" &&
		    r.request().method() === "POST"),
		modal.locator("button.modal-btn.authorize").click()
	]);
	check(tr.status() === 200, "POST /token answered " + tr.status());
	const form = tr.request().postData() || "";
	check(/(^|&)grant_type=password(&|$)/.test(form),
	    "Swagger UI sent grant_type=password: " + form.replace(
	    /password=[^&]*/g, "password=***"));
	await modal.locator("button.modal-btn", { hasText: "Logout" })
	    .waitFor();
	await shot(page, "docs-authorized");
	await modal.locator("button.modal-btn.btn-done").click();
	await modal.waitFor({ state: "detached" });

	/* Try it out: GET /users/me with the token. */
	const op = page.locator("#operations-users-read_users_me");
	await op.locator(".opblock-summary-control").click();
	await op.locator("button.try-out__btn").click();
	const [mr] = await Promise.all([
		page.waitForResponse((r) => r.url() === BASE + "/users/me" &&
		    r.request().method() === "GET"),
		op.locator("button.execute").click()
	]);
	check(mr.status() === 200, "GET /users/me answered " + mr.status());
	check((await mr.request().headerValue("authorization") || "")
	    .startsWith("Bearer "), "Try it out sent the bearer token");
	const status = op.locator(".live-responses-table tr.response .response-col_status")
	    .first();
	await status.waitFor();
	check((await status.innerText()).trim() === "200",
	    "Swagger UI shows 200, not " + await status.innerText());
	const body = await op.locator(".live-responses-table .microlight")
	    .first().innerText();
	check(body.includes(DOCS_EMAIL), "the answer shows the user: " + body);
	await op.scrollIntoViewIfNeeded();
	await op.screenshot({ path: path.join(ARTIFACTS, "docs-try-it-out.png") });
});

/*
 * The WCAG contrast ratio of an element's text against what is behind it:
 * its colour, and the first ancestor background that is not transparent
 * (white when none is).
 */
function contrastOf(locator) {
	return locator.evaluate((el) => {
		const rgba = (s) => {
			const v = s.match(/[\d.]+/g).map(Number);
			return { r: v[0], g: v[1], b: v[2],
			    a: v.length > 3 ? v[3] : 1 };
		};
		const lum = (c) => {
			const f = (x) => {
				x /= 255;
				return x <= 0.03928 ? x / 12.92 :
				    Math.pow((x + 0.055) / 1.055, 2.4);
			};
			return 0.2126 * f(c.r) + 0.7152 * f(c.g) +
			    0.0722 * f(c.b);
		};
		const fg = getComputedStyle(el).color;
		let bg = "rgb(255, 255, 255)";
		for (let n = el; n; n = n.parentElement) {
			const c = getComputedStyle(n).backgroundColor;
			if (rgba(c).a > 0) {
				bg = c;
				break;
			}
		}
		const a = lum(rgba(fg)), b = lum(rgba(bg));
		return { fg: fg, bg: bg, ratio: (Math.max(a, b) + 0.05) /
		    (Math.min(a, b) + 0.05) };
	});
}

/* The page's own styles leak into no widget: readable model names. */
test("docs-schemas", async (page, w) => {
	await page.goto(BASE + "/docs");
	const models = page.locator(".swagger-ui section.models");
	await models.waitFor();
	if (!await models.evaluate((el) => el.classList.contains("is-open")))
		await models.locator("h4 button, h4").first().click();
	/* OpenAPI 3.1: Swagger UI draws schemas as JSON Schema 2020-12. */
	const name = models.locator(".json-schema-2020-12-head " +
	    ".json-schema-2020-12__title").filter({ hasText: /^User$/ }).first();
	await name.waitFor();
	await name.scrollIntoViewIfNeeded();
	const c = await contrastOf(name);
	console.log("# model name User: " + c.fg + " on " + c.bg +
	    ", contrast " + c.ratio.toFixed(2));
	await models.screenshot({ path: path.join(ARTIFACTS,
	    "docs-schemas.png") });
	/* WCAG AA for normal text. */
	check(c.ratio >= 4.5, "a model name is readable: " + c.fg + " on " +
	    c.bg + " is " + c.ratio.toFixed(2) + ":1, below 4.5:1");
	/* No rule of site.css matches Swagger UI's schema widgets. */
	const leaks = await models.evaluate((root) => {
		const sheet = [...document.styleSheets].find((x) =>
		    (x.href || "").includes("/static/site.css"));
		const els = [...root.querySelectorAll("*")];
		const hit = [];
		for (const r of sheet ? sheet.cssRules : []) {
			if (r.selectorText && els.some((e) =>
			    e.matches(r.selectorText)))
				hit.push(r.selectorText);
		}
		return sheet ? hit : null;
	});
	check(leaks !== null, "site.css is loaded on /docs");
	check(leaks.length === 0, "rules of site.css style Swagger UI's " +
	    "schemas: " + leaks.join(", "));
});

/* The introduction is short and links the full conventions. */
test("conventions", async (page, w) => {
	await page.goto(BASE + "/docs");
	const info = page.locator(".swagger-ui .info .description");
	await info.waitFor();
	const box = await info.boundingBox();
	check(box.height < 400, "the introduction is short: " + box.height +
	    " px");
	/* Swagger UI opens description links in a new tab: follow it here. */
	const link = info.locator("a", { hasText: "The full conventions" });
	check(await link.getAttribute("href") === "/conventions",
	    "the introduction links /conventions");
	await page.goto(BASE + "/conventions");
	await page.locator("main.prose h2").filter({ hasText: "Conventions" })
	    .waitFor();
	check(await page.locator("main.prose li").count() >= 10,
	    "the full text is there");
	await shot(page, "conventions");
});

/* --- /redoc --------------------------------------------------------------- */

test("redoc", async (page, w) => {
	await page.goto(BASE + "/redoc");
	await page.locator("#redoc h1").filter({ hasText: "userapi" }).waitFor();
	await page.locator("[data-section-id='operation/create_user']")
	    .waitFor({ state: "attached" });
	await page.locator("[data-section-id='tag/users']").first()
	    .waitFor({ state: "attached" });
	await shot(page, "redoc");

	/* Search runs in ReDoc's worker (the CSP allows blob: workers). */
	await page.locator("input[placeholder='Search...']").fill("password");
	const hits = page.locator("[data-role='search:results'] li");
	await hits.first().waitFor();
	check(await hits.count() > 0, "ReDoc's search finds operations");
	await shot(page, "redoc-search");
});

/* --- the demo page ---------------------------------------------------------- */

test("demo", async (page, w) => {
	const stamp = Date.now().toString(36) +
	    Math.random().toString(36).slice(2, 8);
	const email = "demo-" + stamp + "@example.com";
	const password = "demo-pass-" + stamp;
	const password2 = "demo-pass2-" + stamp;
	const status = page.locator("#status");

	await page.goto(BASE + "/");
	await page.locator("#panel-signup").waitFor();
	check(await page.locator("#panel-profile").isHidden(),
	    "no profile before login");
	await shot(page, "demo");

	/* A bad sign-up shows the API's 422 next to the fields. */
	const signup = page.locator("#signup-form");
	await signup.locator("[name=name]").fill("Demo User");
	await signup.locator("[name=email]").fill("not-an-email");
	await signup.locator("[name=age]").fill("200");
	w.expect(422);
	await signup.locator("button[type=submit]").click();
	const errs = signup.locator("[data-errors] li");
	await errs.first().waitFor();
	const texts = await errs.allInnerTexts();
	check(texts.some((t) => t.startsWith("email: value is not a valid " +
	    "email address")), "e-mail error shown: " + texts);
	check(texts.some((t) => t.startsWith("age: Input should be less " +
	    "than or equal to 150")), "age error shown: " + texts);
	check(await signup.locator("[name=email]").getAttribute(
	    "aria-invalid") === "true", "the e-mail field is marked");

	/* Sign up. */
	await signup.locator("[name=email]").fill(email);
	await signup.locator("[name=age]").fill("36");
	await signup.locator("[name=password]").fill(password);
	await signup.locator("button[type=submit]").click();
	await status.filter({ hasText: "your account is created" }).waitFor();
	check(await signup.locator("[data-errors] li").count() === 0,
	    "the errors are gone");

	/* Log in: the e-mail is filled in already. */
	const login = page.locator("#login-form");
	check(await login.locator("[name=username]").inputValue() === email,
	    "the login form has the new e-mail");
	await login.locator("[name=password]").fill(password);
	await login.locator("button[type=submit]").click();
	await status.filter({ hasText: "Logged in as " + email }).waitFor();
	const profile = page.locator("#profile");
	await page.locator("#panel-profile").waitFor();
	check(await profile.locator("[data-field=email]").innerText() === email,
	    "the profile shows the e-mail");
	check(await profile.locator("[data-field=name]").innerText() ===
	    "Demo User", "the profile shows the name");
	check(await page.locator("#panel-signup").isHidden(),
	    "no sign-up once logged in");

	/* Edit the profile (PATCH with If-Match) and see the change. */
	const edit = page.locator("#profile-form");
	await edit.locator("[name=name]").fill("Demo User Edited");
	await edit.locator("[name=age]").fill("37");
	const [pr] = await Promise.all([
		page.waitForResponse((r) => r.request().method() === "PATCH"),
		edit.locator("button[type=submit]").click()
	]);
	check(pr.status() === 200, "PATCH answered " + pr.status());
	check(/^"\d+"$/.test(await pr.request().headerValue("if-match") || ""),
	    "PATCH sent If-Match");
	await status.filter({ hasText: "Profile saved." }).waitFor();
	await profile.locator("[data-field=name]").filter({
	    hasText: "Demo User Edited" }).waitFor();
	check(await profile.locator("[data-field=age]").innerText() === "37",
	    "the profile shows the new age");

	/* The change is in the service, not only on the page. */
	const token = await page.evaluate(() =>
	    window.sessionStorage.getItem("userapi.token"));
	const r = await fetch(BASE + "/users/me", {
		headers: { Authorization: "Bearer " + token } });
	const me = await r.json();
	check(r.status === 200 && me.name === "Demo User Edited" &&
	    me.age === 37, "GET /users/me has the change: " +
	    JSON.stringify(me));

	/* A reload keeps the session (the token is in sessionStorage). */
	await page.reload();
	await profile.locator("[data-field=name]").filter({
	    hasText: "Demo User Edited" }).waitFor();
	await shot(page, "demo-profile");

	/* A welcome e-mail: the job's status until the sink has it. */
	const [nr] = await Promise.all([
		page.waitForResponse((r) => r.request().method() === "POST" &&
		    r.url().endsWith("/notify")),
		page.locator("#mail-form button[type=submit]").click()
	]);
	check(nr.status() === 202, "POST notify answered " + nr.status());
	const job = (await nr.json()).job_id;
	const jobView = page.locator("#mail-job");
	check(await jobView.locator("[data-job=id]").innerText() === job,
	    "the panel shows the job's id");
	await page.locator("#mail-job[data-status=sent]").waitFor();
	check(await jobView.locator("[data-job=attempts]").innerText() === "1",
	    "sent at the first attempt");
	await status.filter({ hasText: "Your welcome e-mail is sent." })
	    .waitFor();
	await page.locator("#panel-mail").scrollIntoViewIfNeeded();
	await shot(page, "demo-mail");

	/*
	 * Live chat on /ws: a second tab, logged in as the docs user, gets
	 * what this one sends; the sender gets its own message back too.
	 */
	const chatState = page.locator("#chat-state[data-state=open]");
	await chatState.waitFor();
	const tr2 = await fetch(BASE + "/token", { method: "POST",
	    body: new URLSearchParams({ username: DOCS_EMAIL,
	    password: DOCS_PASSWORD }) });
	check(tr2.status === 200, "the docs user logs in: " + tr2.status);
	const other = await page.context().newPage();
	await other.addInitScript((t) => sessionStorage.setItem(
	    "userapi.token", t), (await tr2.json()).access_token);
	await other.goto(BASE + "/");
	await other.locator("#chat-state[data-state=open]").waitFor();
	const said = "hello from " + stamp + " <b>not bold</b>";
	const chat = page.locator("#chat-form");
	await chat.locator("[name=text]").fill(said);
	await chat.locator("button[type=submit]").click();
	for (const p of [page, other]) {
		const line = p.locator("#chat-log li").filter({ hasText: said });
		await line.waitFor();
		check((await line.locator("strong").innerText()) === email,
		    "the line names the sender");
		check(await p.locator("#chat-log b").count() === 0,
		    "the text is shown as text, not HTML");
	}
	await page.locator("#panel-chat").scrollIntoViewIfNeeded();
	await shot(page, "demo-chat");
	await other.close();

	/* Change the password: the old token stops working, log in again. */
	const pw = page.locator("#password-form");
	await pw.locator("[name=current_password]").fill(password);
	await pw.locator("[name=new_password]").fill(password2);
	await pw.locator("button[type=submit]").click();
	await status.filter({ hasText: "Password changed" }).waitFor();
	await page.locator("#panel-login").waitFor();
	const old = await fetch(BASE + "/users/me", {
		headers: { Authorization: "Bearer " + token } });
	check(old.status === 401, "the old token is retired: " + old.status);
	await login.locator("[name=password]").fill(password2);
	await login.locator("button[type=submit]").click();
	await status.filter({ hasText: "Logged in as " + email }).waitFor();
	await shot(page, "demo-after-password-change");

	await page.locator("#logout").click();
	await status.filter({ hasText: "Logged out." }).waitFor();
	check(await page.evaluate(() =>
	    window.sessionStorage.getItem("userapi.token")) === null,
	    "logging out forgets the token");
});

async function main() {
	if (!BASE || !ARTIFACTS || !DOCS_EMAIL || !DOCS_PASSWORD) {
		console.error("usage: USERAPI_URL=... USERAPI_ARTIFACTS=... " +
		    "USERAPI_DOCS_EMAIL=... USERAPI_DOCS_PASSWORD=... node " +
		    "tests/browser/run.js");
		process.exit(2);
	}
	fs.mkdirSync(ARTIFACTS, { recursive: true });

	/* A fresh profile (--user-data-dir) for this run only. */
	const profile = fs.mkdtempSync(path.join(os.tmpdir(),
	    "userapi-chromium-"));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		args: FLAGS,
		viewport: { width: 1280, height: 900 },
		timeout: 60000
	});
	context.setDefaultTimeout(TIMEOUT);
	/* CSP violations as the page sees them, before any of its scripts. */
	await context.addInitScript(() => {
		window.__cspViolations = [];
		document.addEventListener("securitypolicyviolation", (e) => {
			window.__cspViolations.push(e.violatedDirective + " " +
			    e.blockedURI);
		});
	});

	let failed = 0;
	let ran = 0;
	for (const t of tests) {
		if (ONLY && t.name !== ONLY)
			continue;
		ran++;
		const page = await context.newPage();
		const w = watch(page);
		const started = Date.now();
		try {
			await t.fn(page, w);
			await w.finish();
			console.log("ok " + t.name + " (" + (Date.now() - started) +
			    " ms)");
		} catch (e) {
			failed++;
			console.log("FAILED " + t.name + ": " + (e.stack || e));
			await shot(page, t.name + "-failed").catch(() => {});
		}
		await page.close();
	}
	await context.close();
	fs.rmSync(profile, { recursive: true, force: true });
	console.log("browser: " + (ran - failed) + " of " + ran +
	    " tests passed");
	process.exit(failed > 0 || ran === 0 ? 1 : 0);
}

main().catch((e) => {
	console.error(e.stack || e);
	process.exit(1);
});
