/* userapi: starts Swagger UI on /docs; a file of its own because the page's CSP allows no inline script. */
"use strict";

window.ui = window.SwaggerUIBundle({
	url: "/openapi.json",
	dom_id: "#swagger-ui",
	presets: [window.SwaggerUIBundle.presets.apis],
	/* No top bar: the page has its own navigation. */
	layout: "BaseLayout",
	deepLinking: true,
	/* The default sends the document to an outside validator. */
	validatorUrl: null,
	displayRequestDuration: true,
	defaultModelsExpandDepth: 1,
	docExpansion: "list",
	/* Tokens live in this page only, not in localStorage. */
	persistAuthorization: false
});
