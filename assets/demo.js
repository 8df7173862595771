/* userapi: the demo page's behaviour: panels for sign-up, login, the profile and the password. */
"use strict";

/*
 * The page is a list of panels (<section data-when="anonymous|user">).
 * Each panel registered here may handle a form (submit gets the form's
 * fields and returns a promise) and may react to the session (onUser with
 * the user after login or a profile change, onLogout). A new capability
 * (jobs, a WebSocket feed) is one more <section> in demo.html, and one
 * more UserDemo.register() call in a script of its own loaded after this
 * one.
 */
(function (global) {
	const api = global.UserAPI;
	const session = { user: null, etag: null };
	const panels = [];

	function $(sel, root) {
		return (root || document).querySelector(sel);
	}

	function say(text, kind) {
		const el = $("#status");

		el.textContent = text;
		el.dataset.kind = kind || "info";
		el.hidden = !text;
	}

	/* The form's fields as strings, by name. */
	function fieldsOf(form) {
		const out = {};

		for (const [k, v] of new FormData(form).entries())
			out[k] = typeof v === "string" ? v : "";
		return out;
	}

	/* An <input type=number>'s value for the API: null when empty. */
	function ageOf(text) {
		const t = text.trim();

		return t === "" ? null : Number(t);
	}

	function clearErrors(form) {
		$("[data-errors]", form).replaceChildren();
		for (const el of form.querySelectorAll("[aria-invalid]"))
			el.removeAttribute("aria-invalid");
	}

	/* An ApiError under its form: 422 entries next to their field names. */
	function showErrors(form, err) {
		const list = $("[data-errors]", form);
		const items = [];

		if (err instanceof api.ApiError && err.status === 422) {
			const byField = err.fieldErrors;
			for (const field of Object.keys(byField)) {
				const input = field && form.elements.namedItem(field);
				if (input && input.setAttribute)
					input.setAttribute("aria-invalid", "true");
				for (const msg of byField[field])
					items.push((field ? field + ": " : "") + msg);
			}
		} else {
			items.push(err.message || String(err));
		}
		list.replaceChildren(...items.map((text) => {
			const li = document.createElement("li");
			li.textContent = text;
			return li;
		}));
	}

	function render() {
		const who = session.user ? "user" : "anonymous";

		for (const el of document.querySelectorAll("[data-when]"))
			el.hidden = el.dataset.when !== who;
		for (const p of panels) {
			if (session.user && p.onUser)
				p.onUser(session.user);
			if (!session.user && p.onLogout)
				p.onLogout();
		}
	}

	/* Read the caller again (after login, or to start from a kept token). */
	async function refresh() {
		try {
			const r = await api.me();
			session.user = r.data;
			session.etag = r.etag;
		} catch (err) {
			if (!(err instanceof api.ApiError) || err.status !== 401)
				throw err;
			api.logOut();
			session.user = null;
			session.etag = null;
		}
		render();
	}

	function logOut(message) {
		api.logOut();
		session.user = null;
		session.etag = null;
		render();
		say(message || "Logged out.", "info");
	}

	/*
	 * panel: {form: "#id", submit(fields, form) -> promise, onUser(user),
	 * onLogout()}. Errors of submit are shown under the form.
	 */
	function register(panel) {
		panels.push(panel);
		if (!panel.form)
			return;
		const form = $(panel.form);
		form.addEventListener("submit", async (ev) => {
			ev.preventDefault();
			clearErrors(form);
			const button = $("button[type=submit]", form);
			button.disabled = true;
			try {
				await panel.submit(fieldsOf(form), form);
			} catch (err) {
				showErrors(form, err);
				say("", "info");
			} finally {
				button.disabled = false;
			}
		});
	}

	register({
		form: "#signup-form",
		async submit(f, form) {
			const body = { name: f.name, email: f.email };
			const age = ageOf(f.age);

			if (age !== null)
				body.age = age;
			if (f.password !== "")
				body.password = f.password;
			const r = await api.signUp(body);
			form.reset();
			$("#login-form").elements.username.value = r.data.email;
			say("Welcome, " + r.data.name + ": your account is " +
			    "created. Log in to see it.", "ok");
		}
	});

	register({
		form: "#login-form",
		async submit(f, form) {
			await api.logIn(f.username, f.password);
			form.reset();
			await refresh();
			say("Logged in as " + session.user.email + ".", "ok");
		}
	});

	register({
		form: "#profile-form",
		async submit(f) {
			const changes = {};
			const age = ageOf(f.age);

			if (f.name !== session.user.name)
				changes.name = f.name;
			if (f.email !== session.user.email)
				changes.email = f.email;
			if (age !== session.user.age)
				changes.age = age;
			if (Object.keys(changes).length === 0) {
				say("Nothing to save.", "info");
				return;
			}
			try {
				const r = await api.patchUser(session.user.id,
				    changes, session.etag);
				session.user = r.data;
				session.etag = r.etag;
			} catch (err) {
				if (err instanceof api.ApiError && err.status === 412) {
					await refresh();
					throw new Error("Your profile was changed " +
					    "elsewhere meanwhile; here it is as it " +
					    "is now. Save again to overwrite it.");
				}
				throw err;
			}
			render();
			say("Profile saved.", "ok");
		},
		onUser(user) {
			const view = $("#profile");
			for (const dd of view.querySelectorAll("[data-field]")) {
				const v = user[dd.dataset.field];
				dd.textContent = v === null ? "-" :
				    typeof v === "boolean" ? (v ? "yes" : "no") :
				    String(v);
			}
			const form = $("#profile-form");
			form.elements.name.value = user.name;
			form.elements.email.value = user.email;
			form.elements.age.value = user.age === null ? "" :
			    String(user.age);
		}
	});

	register({
		form: "#password-form",
		async submit(f, form) {
			const email = session.user.email;

			await api.changePassword(f.current_password,
			    f.new_password);
			form.reset();
			logOut("Password changed. Your older tokens no longer " +
			    "work: log in with the new password.");
			$("#login-form").elements.username.value = email;
		},
		onUser(user) {
			/* For password managers: whose password this is. */
			$("#password-form").elements.username.value = user.email;
		}
	});

	$("#logout").addEventListener("click", () => logOut());

	global.UserDemo = {
		register: register,
		refresh: refresh,
		say: say,
		session: session
	};

	if (api.token) {
		refresh().catch((err) => say(err.message, "error"));
	} else {
		render();
	}
})(window);
