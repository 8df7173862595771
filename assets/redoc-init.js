/* userapi: starts ReDoc on /redoc; a file of its own because the page's CSP allows no inline script. */
"use strict";

/*
 * ReDoc's menu footer loads a logo from an outside server. Nothing on
 * these pages loads from outside at run time, and the page's CSP
 * (img-src 'self' data:) would block it with a console error: an image
 * whose address is on another origin gets an empty picture instead,
 * whether the address is set as a property (as ReDoc's React does) or
 * as an attribute.
 */
(function () {
	const EMPTY = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'" +
	    " width='1' height='1'/%3E";
	const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype,
	    "src");
	const setAttribute = Element.prototype.setAttribute;

	function local(value) {
		let u;

		try {
			u = new URL(String(value), window.location.href);
		} catch (e) {
			return value;
		}
		if (u.protocol === "data:" || u.protocol === "blob:" ||
		    u.origin === window.location.origin)
			return value;
		return EMPTY;
	}

	Object.defineProperty(HTMLImageElement.prototype, "src", {
		configurable: true,
		enumerable: src.enumerable,
		get: src.get,
		set(value) {
			src.set.call(this, local(value));
		}
	});
	Element.prototype.setAttribute = function (name, value) {
		if (this instanceof HTMLImageElement &&
		    String(name).toLowerCase() === "src")
			value = local(value);
		return setAttribute.call(this, name, value);
	};
})();

window.Redoc.init("/openapi.json", {
	expandResponses: "200,201",
	jsonSampleExpandLevel: 2,
	/* The page's own header sits above: keep ReDoc's menu below it. */
	scrollYOffset: ".site-nav"
}, document.getElementById("redoc"));
