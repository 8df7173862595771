/* userapi: a small browser client of the API (fetch, the bearer token, errors as data), used by the demo page. */
"use strict";

(function (global) {
	const TOKEN_KEY = "userapi.token";

	/* An answer that is not 2xx: status, the parsed body, the headers. */
	class ApiError extends Error {
		constructor(status, body, headers) {
			super(ApiError.describe(status, body));
			this.name = "ApiError";
			this.status = status;
			this.body = body;
			this.headers = headers;
		}

		/* One line for a person: the detail, or the 422 list. */
		static describe(status, body) {
			if (body && typeof body.detail === "string")
				return body.detail;
			if (body && Array.isArray(body.detail))
				return body.detail.map((e) => e.msg).join("; ");
			return "HTTP " + status;
		}

		/* 422 problems by field name ("" for the body itself). */
		get fieldErrors() {
			const out = {};

			if (this.status !== 422 || !this.body ||
			    !Array.isArray(this.body.detail))
				return out;
			for (const e of this.body.detail) {
				const field = e.loc.length > 1 ? String(e.loc[1]) : "";
				(out[field] = out[field] || []).push(e.msg);
			}
			return out;
		}
	}

	function storedToken() {
		try {
			return global.sessionStorage.getItem(TOKEN_KEY);
		} catch (e) {
			return null;
		}
	}

	const api = {
		ApiError: ApiError,
		token: storedToken(),

		setToken(token) {
			this.token = token;
			try {
				if (token)
					global.sessionStorage.setItem(TOKEN_KEY, token);
				else
					global.sessionStorage.removeItem(TOKEN_KEY);
			} catch (e) {
				/* Storage may be off: the token lives in memory. */
			}
		},

		/*
		 * One request. opts: json (a value sent as JSON), form (an
		 * object sent as a form), headers. Resolves to {status, data,
		 * etag, headers}; rejects with ApiError for a non-2xx answer.
		 */
		async request(method, path, opts) {
			const o = opts || {};
			const headers = new Headers(o.headers || {});
			let body;

			headers.set("Accept", "application/json");
			if (o.json !== undefined) {
				headers.set("Content-Type", "application/json");
				body = JSON.stringify(o.json);
			} else if (o.form !== undefined) {
				body = new URLSearchParams(o.form);
			}
			if (this.token)
				headers.set("Authorization", "Bearer " + this.token);

			const r = await fetch(path, {
				method: method,
				headers: headers,
				body: body,
				cache: "no-store",
				credentials: "same-origin"
			});
			const text = await r.text();
			let data = null;
			if (text !== "") {
				try {
					data = JSON.parse(text);
				} catch (e) {
					data = text;
				}
			}
			if (!r.ok)
				throw new ApiError(r.status, data, r.headers);
			return {
				status: r.status,
				data: data,
				etag: r.headers.get("ETag"),
				headers: r.headers
			};
		},

		signUp(fields) {
			return this.request("POST", "/users", { json: fields });
		},

		async logIn(email, password) {
			const r = await this.request("POST", "/token", {
				form: {
					grant_type: "password",
					username: email,
					password: password
				}
			});
			this.setToken(r.data.access_token);
			return r;
		},

		logOut() {
			this.setToken(null);
		},

		me() {
			return this.request("GET", "/users/me");
		},

		/* PATCH with If-Match: 412 when the user changed meanwhile. */
		patchUser(id, fields, etag) {
			return this.request("PATCH",
			    "/users/" + encodeURIComponent(id), {
				json: fields,
				headers: etag ? { "If-Match": etag } : {}
			});
		},

		changePassword(current, next) {
			return this.request("POST", "/users/me/password", {
				json: { current_password: current, new_password: next }
			});
		}
	};

	global.UserAPI = api;
})(window);
