/* userapi: the demo page's live chat: a WebSocket on /ws, resumed with last_id after a drop. */
"use strict";

/*
 * Connects once the user is logged in (?access_token=, since a browser
 * cannot set headers on a WebSocket), shows every broadcast message, and
 * sends the form's text as one text message. When the socket drops it
 * reconnects after a pause with ?last_id= of the last message seen, so
 * nothing is missed or shown twice; {"type":"reset"} (older messages
 * pruned meanwhile) starts the log again. Logging out closes it.
 */
(function (global) {
	const api = global.UserAPI;
	const demo = global.UserDemo;
	const RETRY_MS = [500, 1000, 2000, 5000];
	const KEEP = 200;		/* messages shown at most */
	let ws = null;
	let lastId = 0;
	let retries = 0;
	let timer = null;
	let wanted = false;

	function $(sel) {
		return document.querySelector(sel);
	}

	function state(text, kind) {
		const el = $("#chat-state");

		el.textContent = text;
		el.dataset.state = kind;
	}

	function add(m) {
		const log = $("#chat-log");
		const li = document.createElement("li");
		const who = document.createElement("strong");
		const when = document.createElement("time");

		who.textContent = m.from;
		when.dateTime = m.at;
		when.textContent = m.at.slice(11, 19);
		li.dataset.id = String(m.id);
		li.append(when, " ", who, ": ", m.text);
		log.append(li);
		while (log.children.length > KEEP)
			log.firstElementChild.remove();
		log.scrollTop = log.scrollHeight;
	}

	function connect() {
		if (!wanted || ws !== null || !api.token)
			return;
		const url = new URL("/ws", global.location.href);
		url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
		url.searchParams.set("access_token", api.token);
		if (lastId > 0)
			url.searchParams.set("last_id", String(lastId));

		state("Connecting...", "connecting");
		ws = new WebSocket(url.href);
		ws.addEventListener("open", () => {
			retries = 0;
			state("Connected: messages go to everyone here.", "open");
		});
		ws.addEventListener("message", (ev) => {
			let m;
			try {
				m = JSON.parse(ev.data);
			} catch (e) {
				return;
			}
			if (m.type === "message" && m.id > lastId) {
				lastId = m.id;
				add(m);
			} else if (m.type === "reset") {
				$("#chat-log").replaceChildren();
			} else if (m.type === "error") {
				demo.say(m.detail, "error");
			}
		});
		ws.addEventListener("close", (ev) => {
			ws = null;
			if (!wanted) {
				state("Not connected.", "closed");
				return;
			}
			const wait = RETRY_MS[Math.min(retries, RETRY_MS.length - 1)];
			retries++;
			state("Disconnected (" + ev.code + (ev.reason ? " " +
			    ev.reason : "") + "); reconnecting...", "closed");
			timer = setTimeout(() => {
				timer = null;
				connect();
			}, wait);
		});
	}

	function disconnect() {
		wanted = false;
		if (timer !== null)
			clearTimeout(timer);
		timer = null;
		if (ws !== null)
			ws.close(1000, "logged out");
		lastId = 0;
		$("#chat-log").replaceChildren();
		state("Not connected.", "closed");
	}

	demo.register({
		form: "#chat-form",
		async submit(f, form) {
			const text = f.text.trim();

			if (text === "")
				return;
			if (ws === null || ws.readyState !== WebSocket.OPEN)
				throw new Error("Not connected yet: try again in a " +
				    "moment.");
			ws.send(text);
			form.reset();
		},
		onUser() {
			wanted = true;
			connect();
		},
		onLogout() {
			disconnect();
		}
	});
})(window);
