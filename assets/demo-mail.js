/* userapi: the demo page's welcome e-mail: POST /users/{id}/notify, then the job's status from GET /jobs/{id} until it settles. */
"use strict";

(function (global) {
	const api = global.UserAPI;
	const demo = global.UserDemo;
	const POLL_MS = 1000;
	const POLL_MAX = 120;		/* then the button asks again */
	const SETTLED = ["sent", "failed"];
	let timer = null;

	function $(sel) {
		return document.querySelector(sel);
	}

	function stop() {
		if (timer !== null)
			clearTimeout(timer);
		timer = null;
	}

	function show(job) {
		const view = $("#mail-job");

		for (const dd of view.querySelectorAll("[data-job]")) {
			const v = job[dd.dataset.job];
			dd.textContent = v === null || v === undefined ? "-" :
			    String(v);
		}
		view.dataset.status = job.status;
		view.hidden = false;
	}

	/* GET /jobs/{id} once a second until sent or failed. */
	function poll(id, left) {
		timer = setTimeout(async () => {
			timer = null;
			try {
				const r = await api.request("GET", "/jobs/" +
				    encodeURIComponent(id));
				show(r.data);
				if (SETTLED.includes(r.data.status)) {
					demo.say(r.data.status === "sent" ?
					    "Your welcome e-mail is sent." :
					    "The welcome e-mail failed: " +
					    r.data.last_error, r.data.status ===
					    "sent" ? "ok" : "error");
					return;
				}
			} catch (err) {
				demo.say(err.message, "error");
				return;
			}
			if (left > 1)
				poll(id, left - 1);
		}, POLL_MS);
	}

	demo.register({
		form: "#mail-form",
		async submit() {
			stop();
			const id = demo.session.user.id;
			const r = await api.request("POST", "/users/" +
			    encodeURIComponent(id) + "/notify");
			show({ id: r.data.job_id, status: "queued", attempts: 0,
			    last_error: null });
			demo.say("Welcome e-mail scheduled (job " + r.data.job_id +
			    ").", "info");
			poll(r.data.job_id, POLL_MAX);
		},
		onLogout() {
			stop();
			$("#mail-job").hidden = true;
		}
	});
})(window);
