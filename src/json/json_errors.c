/* userapi: validation errors (struct verrs) as FastAPI's 422 JSON body. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json/errors.h"
#include "model/verr.h"

static json_t	*verr_text(const char *);
static json_t	*verr_loc(const struct verr *, size_t);
static size_t	 utf8_seq_len(const unsigned char *, size_t);

/*
 * {"detail": [{"type", "loc", "msg"}, ...]} in the order of errs; past
 * VERRS_MAX, one last entry says how many more there were.
 */
json_t *
verrs_to_json(const struct verrs *errs)
{
	json_t		*list, *loc, *item;
	size_t		 i, j;
	char		 msg[96];

	list = json_array();
	for (i = 0; i < errs->n; i++) {
		loc = json_array();
		for (j = 0; j < errs->v[i].nloc; j++)
			json_array_append_new(loc, verr_loc(&errs->v[i], j));
		item = json_object();
		json_object_set_new(item, "type", verr_text(errs->v[i].type));
		json_object_set_new(item, "loc", loc);
		json_object_set_new(item, "msg", verr_text(errs->v[i].msg));
		json_array_append_new(list, item);
	}
	if (errs->more > 0) {
		(void)snprintf(msg, sizeof(msg), "%zu more errors not shown",
		    errs->more);
		json_array_append_new(list, json_pack("{s:s, s:[o], s:s}",
		    "type", "too_many_errors", "loc",
		    verr_text(errs->more_loc), "msg", msg));
	}
	return (json_pack("{s:o}", "detail", list));
}

static json_t *
verr_loc(const struct verr *e, size_t j)
{
	if (e->loc_int & (1U << j))
		return (json_integer(strtoll(e->loc[j], NULL, 10)));
	return (verr_text(e->loc[j]));
}

/*
 * A JSON string from s. Names of query parameters or headers can carry
 * any bytes: a byte that does not start valid UTF-8 becomes U+FFFD.
 */
static json_t *
verr_text(const char *s)
{
	const unsigned char	*p;
	size_t			 len, i, o, n;
	char			*buf;
	json_t			*j;

	if (s == NULL)
		return (json_string(""));
	if ((j = json_string(s)) != NULL)
		return (j);

	p = (const unsigned char *)s;
	len = strlen(s);
	if (len > (SIZE_MAX - 1) / 3 || (buf = malloc(len * 3 + 1)) == NULL)
		abort();
	for (i = o = 0; i < len; i += n) {
		if ((n = utf8_seq_len(p + i, len - i)) > 0) {
			memcpy(buf + o, p + i, n);
			o += n;
			continue;
		}
		memcpy(buf + o, "\xef\xbf\xbd", 3);
		o += 3;
		n = 1;
	}
	buf[o] = '\0';
	if ((j = json_string(buf)) == NULL)
		abort();
	free(buf);
	return (j);
}

/* Length of the well-formed UTF-8 sequence at p, or 0. */
static size_t
utf8_seq_len(const unsigned char *p, size_t len)
{
	unsigned int	c;
	size_t		n, i;

	if (p[0] < 0x80)
		return (1);
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return (0);
	if (n > len)
		return (0);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
	}
	c = p[1];
	if ((p[0] == 0xe0 && c < 0xa0) || (p[0] == 0xed && c > 0x9f) ||
	    (p[0] == 0xf0 && c < 0x90) || (p[0] == 0xf4 && c > 0x8f))
		return (0);
	return (n);
}
