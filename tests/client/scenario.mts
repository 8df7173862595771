// userapi: what an API consumer does with a client generated from /openapi.json, compiled with tsc --strict.
//
// The types come from openapi-typescript (generated/api.d.ts), the calls
// from openapi-fetch; nothing here is written by hand that the document
// should say. Some lines exist only to be type-checked: a document whose
// schemas lose their types (an untyped enum reads as `unknown`), or whose
// `loc` becomes a one-element tuple, stops this file from compiling.
//
//   node .build/client/scenario.mjs BASE_URL

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api.js";

// Only what is used of node's globals: no @types/node needed.
declare const process: { argv: string[] };

type User = components["schemas"]["User"];
type Loc = components["schemas"]["ValidationError"]["loc"];
type JobStatus = components["schemas"]["Job"]["status"];

const base = process.argv[2];
if (!base)
	throw new Error("usage: node scenario.mjs BASE_URL");

let steps = 0;

function check(cond: boolean, what: string, got?: unknown): asserts cond {
	if (!cond)
		throw new Error(`${what}: got ${JSON.stringify(got)}`);
}

function step(what: string): void {
	steps++;
	console.log(`ok ${steps} - ${what}`);
}

// A client of the service; with a token, every call carries it.
function client(token?: string) {
	return createClient<paths>({
		baseUrl: base,
		headers: token ? { Authorization: `Bearer ${token}` } : {},
	});
}

// The status is a word the service may use, and the compiler knows all.
function settled(s: JobStatus): boolean {
	switch (s) {
	case "queued":
	case "running":
		return false;
	case "sent":
	case "failed":
		return true;
	default: {
		const none: never = s;
		return none;
	}
	}
}

async function login(email: string, password: string): Promise<string> {
	const { data, error, response } = await client().POST("/token", {
		body: { grant_type: "password", username: email, password },
		// The OAuth2 password grant is a form, not JSON.
		bodySerializer: (b) => new URLSearchParams(
		    Object.entries(b).filter(([, v]) => v !== undefined)
		    .map(([k, v]) => [k, String(v)])).toString(),
		headers: { "Content-Type": "application/x-www-form-urlencoded" },
	});
	check(response.status === 200 && data !== undefined,
	    "POST /token", error ?? response.status);
	const type: "bearer" = data.token_type;
	check(type === "bearer" && data.expires_in > 0, "token_type", data);
	return data.access_token;
}

const anon = client();
const email = `client-${Date.now()}-${Math.floor(Math.random() * 1e9)}@example.com`;
const password = "client-pw-1";

// A 422 lists every problem; loc[1] is the field (or a byte offset).
{
	const { error, response } = await anon.POST("/users", {
		body: { name: "", email: "not-an-address" },
	});
	check(response.status === 422 && error !== undefined, "POST /users 422",
	    response.status);
	check(typeof error.detail !== "string", "a list of problems", error);
	const fields: (string | number)[] = error.detail.map((d) => d.loc[1] ?? "");
	const where: string | number = error.detail[0].loc[1];
	// The schema's own type: an array of string | integer, not a tuple.
	const sample: Loc = ["body", "name"];
	check(sample.length === 2, "Loc", sample);
	check(fields.includes("name") && fields.includes("email") &&
	    where === "name", "loc of each problem", error.detail);
	step("sign-up with bad fields: 422 with every problem");
}

// Sign up.
let me: User;
{
	const { data, error, response } = await anon.POST("/users", {
		body: { name: "Client", email, password },
	});
	check(response.status === 201 && data !== undefined, "POST /users",
	    error ?? response.status);
	check(response.headers.get("Location") === `/users/${data.id}`,
	    "Location", response.headers.get("Location"));
	check(data.email === email && data.age === null && !data.is_admin,
	    "the new user", data);
	me = data;
	step("sign up: 201 with Location");
}

// Log in with a form body.
const token = await login(email, password);
const api = client(token);
step("log in with a form: a bearer token");

// Read, then PATCH with If-Match; a stale tag is 412.
{
	const { data, response } = await api.GET("/users/{user_id}", {
		params: { path: { user_id: me.id } },
	});
	const etag = response.headers.get("ETag");
	check(data !== undefined && etag !== null, "GET /users/{user_id}",
	    response.status);
	check(response.headers.get("X-Request-ID") !== null, "X-Request-ID",
	    null);

	const patched = await api.PATCH("/users/{user_id}", {
		params: { path: { user_id: me.id }, header: { "If-Match": etag } },
		body: { age: 42 },
	});
	check(patched.response.status === 200 && patched.data?.age === 42,
	    "PATCH with If-Match", patched.error ?? patched.data);
	check(patched.response.headers.get("ETag") !== etag, "a new ETag",
	    patched.response.headers.get("ETag"));

	const stale = await api.PATCH("/users/{user_id}", {
		params: { path: { user_id: me.id }, header: { "If-Match": etag } },
		body: { name: "Lost update" },
	});
	check(stale.response.status === 412 &&
	    stale.error?.detail === "Precondition Failed", "PATCH with a stale If-Match",
	    stale.error ?? stale.response.status);
	step("read, PATCH with If-Match; a stale tag is 412");
}

// Notify, then read the job.
{
	const { data, error, response } = await api.POST("/users/{user_id}/notify", {
		params: { path: { user_id: me.id } },
		body: { subject: "Welcome!" },
	});
	check(response.status === 202 && data !== undefined, "POST notify",
	    error ?? response.status);
	const scheduled: "Notification scheduled" = data.message;
	check(scheduled === "Notification scheduled" &&
	    response.headers.get("Location") === `/jobs/${data.job_id}`,
	    "202 with Location", data);

	const job = await api.GET("/jobs/{job_id}", {
		params: { path: { job_id: data.job_id } },
	});
	check(job.response.status === 200 && job.data !== undefined,
	    "GET /jobs/{job_id}", job.error ?? job.response.status);
	check(job.data.id === data.job_id && job.data.kind === "email" &&
	    job.data.attempts >= 0, "the job", job.data);
	step(`notify: 202, the job is ${job.data.status}` +
	    (settled(job.data.status) ? "" : " (not settled yet)"));
}

// Change the password: the old token is refused, the new password works.
{
	const { error, response } = await api.POST("/users/me/password", {
		body: { current_password: password, new_password: "client-pw-2" },
	});
	check(response.status === 204, "POST /users/me/password",
	    error ?? response.status);

	const old = await api.GET("/users/me");
	check(old.response.status === 401 && old.error?.detail === "Invalid token",
	    "the old token", old.error ?? old.response.status);
	check(old.response.headers.get("WWW-Authenticate") === "Bearer",
	    "WWW-Authenticate", old.response.headers.get("WWW-Authenticate"));

	const fresh = await client(await login(email, "client-pw-2")).GET("/users/me");
	check(fresh.data?.id === me.id, "GET /users/me with the new token",
	    fresh.error ?? fresh.data);
	step("password change: the old token is refused, the new one works");
}

console.log(`1..${steps}`);
