/* userapi: who is calling: the bearer token of a request, and the 401 answers. */

#include <sys/types.h>

#include <stdio.h>
#include <time.h>

#include <kore/kore.h>
#include <kore/http.h>

#include "auth/access.h"
#include "auth/token.h"
#include "http/reply.h"
#include "log.h"

int
access_caller(struct http_request *req, struct caller *c)
{
	struct token_claims	 claims;
	const char		*hdr, *token, *why;

	if (!http_request_header(req, "authorization", &hdr) ||
	    !token_bearer(hdr, &token)) {
		access_deny(req, "Not authenticated");
		return (-1);
	}
	if (token_check(token, time(NULL), &claims, &why) == -1) {
		log_info("token refused: %s (rid %s)", why,
		    reqctx_get(req)->rid);
		access_deny(req, "Invalid token");
		return (-1);
	}

	(void)snprintf(c->id, sizeof(c->id), "%s", claims.sub);
	(void)snprintf(c->tv, sizeof(c->tv), "%lld", claims.tv);
	return (0);
}

void
access_deny(struct http_request *req, const char *detail)
{
	http_response_header(req, "www-authenticate", "Bearer");
	reply_error(req, 401, detail);
}
