/* userapi: the compiled-in web assets: /openapi.json, /asyncapi.json, /docs, /redoc, /conventions, the demo page, /static/<name>. */

/*
 * Everything served here is a byte array that kodev compiled in from
 * assets/: one static table maps a URL path to its bytes, content type,
 * ETag and cache policy. Nothing is read from a file system, so no path
 * can leave the table: an unknown path (also "..", "%2f" and the like)
 * is the JSON 404.
 *
 * Caching: files under /static/ are linked from the pages with
 * "?v=<version>", the first 16 hex digits of their SHA-256; asked for with
 * the current version they may be cached for a year, otherwise clients
 * revalidate. Each page is rendered once per worker, with the versions of
 * the static files it links filled in, and its ETag is a hash of the
 * result, so a new script also changes the ETag of the page that links it.
 * The document and the pages are no-cache: always revalidated, 304 when
 * If-None-Match still matches.
 */

#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "assets.h"

#include "api/api.h"
#include "http/reply.h"
#include "http/request.h"

#define CT_JSON		"application/json; charset=utf-8"
#define CT_HTML		"text/html; charset=utf-8"
#define CT_JS		"text/javascript; charset=utf-8"
#define CT_CSS		"text/css; charset=utf-8"
#define CT_TEXT		"text/plain; charset=utf-8"
#define CT_SVG		"image/svg+xml"

/*
 * The pages' Content-Security-Policy, the least each one needs (measured
 * in chromium: anything less logs violations). All: nothing that is not
 * listed; scripts, styles and requests only to this origin; no inline
 * script (the pages' initialisers are files of their own); no framing,
 * no <base>, forms post here only. Swagger UI draws its icons from data:
 * URLs (img-src data:). ReDoc injects its styles at run time as <style>
 * elements (styled-components), which only 'unsafe-inline' allows, and
 * runs its search index in a worker made from a blob: URL.
 */
#define CSP_COMMON \
	"default-src 'none'; script-src 'self'; connect-src 'self'; " \
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
#define CSP_DEMO	CSP_COMMON "; style-src 'self'; img-src 'self'"
#define CSP_DOCS	CSP_COMMON "; style-src 'self'; img-src 'self' data:"
#define CSP_REDOC \
	CSP_COMMON "; style-src 'self' 'unsafe-inline'; " \
	"img-src 'self' data:; worker-src blob:"

#define CACHE_NONE	"no-cache"
#define CACHE_FOREVER	"public, max-age=31536000, immutable"

#define STATIC_PREFIX	"/static/"
#define VERSION_LEN	16		/* hex digits of SHA-256 in ?v= */
#define ETAG_MAX	80

/* How an asset is served. */
#define ASSET_PAGE	0x01	/* HTML: rendered, with a CSP */
#define ASSET_VERSIONED	0x02	/* under /static/: ?v= makes it immutable */

struct asset {
	const char		*path;		/* the URL path, exact */
	const u_int8_t		*data;
	const u_int32_t		*len;
	const char * const	*sha256;	/* "\"<64 hex digits>\"" */
	const char		*ctype;
	const char		*csp;		/* pages only */
	int			 flags;
};

#define ASSET(p, n, ct, csp, fl)	\
	{ p, asset_##n, &asset_len_##n, &asset_sha256_##n, ct, csp, fl }

/*
 * The table. A new page or static file is one line here (and the file in
 * assets/); assets/openapi.json lists the static names too, and a test
 * checks that both agree.
 */
static const struct asset assets[] = {
	ASSET("/openapi.json", openapi_json, CT_JSON, NULL, 0),
	ASSET("/asyncapi.json", asyncapi_json, CT_JSON, NULL, 0),
	ASSET("/", demo_html, CT_HTML, CSP_DEMO, ASSET_PAGE),
	ASSET("/docs", docs_html, CT_HTML, CSP_DOCS, ASSET_PAGE),
	ASSET("/redoc", redoc_html, CT_HTML, CSP_REDOC, ASSET_PAGE),
	ASSET("/conventions", conventions_html, CT_HTML, CSP_DEMO, ASSET_PAGE),

	/* Our own scripts and styles. */
	ASSET("/static/api-client.js", api_client_js, CT_JS, NULL,
	    ASSET_VERSIONED),
	ASSET("/static/demo.js", demo_js, CT_JS, NULL, ASSET_VERSIONED),
	ASSET("/static/demo-mail.js", demo_mail_js, CT_JS, NULL,
	    ASSET_VERSIONED),
	ASSET("/static/demo-chat.js", demo_chat_js, CT_JS, NULL,
	    ASSET_VERSIONED),
	ASSET("/static/docs-init.js", docs_init_js, CT_JS, NULL,
	    ASSET_VERSIONED),
	ASSET("/static/redoc-init.js", redoc_init_js, CT_JS, NULL,
	    ASSET_VERSIONED),
	ASSET("/static/site.css", site_css, CT_CSS, NULL, ASSET_VERSIONED),
	ASSET("/static/favicon.svg", favicon_svg, CT_SVG, NULL,
	    ASSET_VERSIONED),

	/* From npm, copied into assets/vendor/ at build time. */
	ASSET("/static/swagger-ui-bundle.js", swagger_ui_bundle_js, CT_JS,
	    NULL, ASSET_VERSIONED),
	ASSET("/static/swagger-ui-bundle.js.LICENSE.txt",
	    swagger_ui_bundle_js_LICENSE_txt, CT_TEXT, NULL, ASSET_VERSIONED),
	ASSET("/static/swagger-ui.css", swagger_ui_css, CT_CSS, NULL,
	    ASSET_VERSIONED),
	ASSET("/static/redoc.standalone.js", redoc_standalone_js, CT_JS,
	    NULL, ASSET_VERSIONED),
	ASSET("/static/redoc.standalone.js.LICENSE.txt",
	    redoc_standalone_js_LICENSE_txt, CT_TEXT, NULL, ASSET_VERSIONED),
};

#define ASSET_COUNT	(sizeof(assets) / sizeof(assets[0]))

/* A page as this worker serves it: rendered once, kept for good. */
struct page {
	char		*data;
	size_t		 len;
	char		 etag[ETAG_MAX];
};

static struct page	pages[ASSET_COUNT];

static const struct asset *asset_find(const char *, size_t);
static const struct page *asset_page(size_t);
static void	asset_render(const struct asset *, struct page *);
static void	asset_version(const struct asset *, char *);
static int	asset_etag_match(const char *, const char *);
static void	asset_append(char **, size_t *, size_t *, const void *,
		    size_t);

/* GET of every path in the table; HEAD runs it as a GET (dispatch.c). */
int
api_asset(struct http_request *req)
{
	const struct asset	*a;
	const struct page	*pg;
	const char		*etag, *inm, *cache;
	const void		*data;
	char			*v, version[VERSION_LEN + 1];
	size_t			 len, idx;

	if ((a = asset_find(req->path, strlen(req->path))) == NULL) {
		reply_error(req, 404, "Not Found");
		return (KORE_RESULT_OK);
	}
	idx = (size_t)(a - assets);

	if (a->flags & ASSET_PAGE) {
		pg = asset_page(idx);
		data = pg->data;
		len = pg->len;
		etag = pg->etag;
	} else {
		data = a->data;
		len = *a->len;
		etag = *a->sha256;
	}

	cache = CACHE_NONE;
	if (a->flags & ASSET_VERSIONED) {
		asset_version(a, version);
		if (request_query(req, "v", &v) && !strcmp(v, version))
			cache = CACHE_FOREVER;
		free(v);
	}

	http_response_header(req, "etag", etag);
	http_response_header(req, "cache-control", cache);
	http_response_header(req, "x-content-type-options", "nosniff");

	if (http_request_header(req, "if-none-match", &inm) &&
	    asset_etag_match(inm, etag)) {
		reply_raw(req, 304, NULL, NULL, 0);
		return (KORE_RESULT_OK);
	}

	if (a->csp != NULL)
		http_response_header(req, "content-security-policy", a->csp);
	reply_raw(req, 200, a->ctype, data, len);
	return (KORE_RESULT_OK);
}

static const struct asset *
asset_find(const char *path, size_t len)
{
	size_t	i;

	for (i = 0; i < ASSET_COUNT; i++) {
		if (strlen(assets[i].path) == len &&
		    !memcmp(assets[i].path, path, len))
			return (&assets[i]);
	}
	return (NULL);
}

static const struct page *
asset_page(size_t idx)
{
	if (pages[idx].data == NULL)
		asset_render(&assets[idx], &pages[idx]);
	return (&pages[idx]);
}

/*
 * Copy the page, adding "?v=<version>" to every link to a static file of
 * the table ("/static/<name>" followed by a quote), and name the result
 * with a 64-bit FNV-1a hash as its ETag. Allocation failure aborts.
 */
static void
asset_render(const struct asset *a, struct page *pg)
{
	const struct asset	*ref;
	const char		*src, *p, *end, *name;
	char			 version[VERSION_LEN + 1];
	size_t			 off, cap, n;
	uint64_t		 h;

	src = (const char *)a->data;
	end = src + *a->len;
	pg->data = NULL;
	pg->len = 0;
	cap = 0;

	for (p = src; p < end; p = name + n) {
		name = memmem(p, (size_t)(end - p), STATIC_PREFIX,
		    strlen(STATIC_PREFIX));
		if (name == NULL) {
			asset_append(&pg->data, &pg->len, &cap, p,
			    (size_t)(end - p));
			break;
		}
		/* The link runs to the closing quote of the attribute. */
		n = strlen(STATIC_PREFIX);
		while (name + n < end && name[n] != '"' && name[n] != '\'' &&
		    name[n] != '?' && name[n] != '<' && name[n] != ' ')
			n++;
		asset_append(&pg->data, &pg->len, &cap, p,
		    (size_t)(name + n - p));
		if (name + n < end && (name[n] == '"' || name[n] == '\'') &&
		    (ref = asset_find(name, n)) != NULL &&
		    (ref->flags & ASSET_VERSIONED)) {
			asset_version(ref, version);
			asset_append(&pg->data, &pg->len, &cap, "?v=", 3);
			asset_append(&pg->data, &pg->len, &cap, version,
			    VERSION_LEN);
		}
	}
	asset_append(&pg->data, &pg->len, &cap, "", 0);

	h = 0xcbf29ce484222325ULL;
	for (off = 0; off < pg->len; off++) {
		h ^= (unsigned char)pg->data[off];
		h *= 0x100000001b3ULL;
	}
	(void)snprintf(pg->etag, sizeof(pg->etag), "\"%016llx\"",
	    (unsigned long long)h);
}

/* The first VERSION_LEN hex digits of the asset's SHA-256, NUL-terminated. */
static void
asset_version(const struct asset *a, char *out)
{
	memcpy(out, *a->sha256 + 1, VERSION_LEN);
	out[VERSION_LEN] = '\0';
}

/*
 * If-None-Match (RFC 9110 13.1.2): "*", or a list of entity tags compared
 * weakly (a W/ prefix is ignored). 1 when one of them is etag.
 */
static int
asset_etag_match(const char *hdr, const char *etag)
{
	const char	*p, *end;
	size_t		 len, elen;

	elen = strlen(etag);
	for (p = hdr; *p != '\0'; p = (*end == ',') ? end + 1 : end) {
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, ",");
		len = (size_t)(end - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 1 && p[0] == '*')
			return (1);
		if (len > 2 && p[0] == 'W' && p[1] == '/') {
			p += 2;
			len -= 2;
		}
		if (len == elen && !memcmp(p, etag, elen))
			return (1);
	}
	return (0);
}

/* Append len bytes to a malloc'd buffer, growing it; NUL-terminated. */
static void
asset_append(char **buf, size_t *off, size_t *cap, const void *data,
    size_t len)
{
	if (*off + len + 1 > *cap) {
		*cap = (*off + len + 1) * 2;
		if ((*buf = realloc(*buf, *cap)) == NULL)
			abort();
	}
	memcpy(*buf + *off, data, len);
	*off += len;
	(*buf)[*off] = '\0';
}
