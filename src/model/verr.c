/* userapi: validation error lists (struct verrs): append, free. */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/verr.h"

static struct verr	*verrs_next(struct verrs *, const char *,
			    const char *);
static int		 verrs_full(struct verrs *, const char *);
static char		*verr_strdup(const char *);
static char		*verr_vformat(const char *, va_list)
			    __attribute__((format(printf, 1, 0)));

void
verrs_init(struct verrs *errs)
{
	errs->v = NULL;
	errs->n = 0;
	errs->cap = 0;
	errs->more = 0;
	errs->more_loc = NULL;
}

/* Frees every entry; errs is empty and reusable afterwards. */
void
verrs_free(struct verrs *errs)
{
	size_t		i, j;

	for (i = 0; i < errs->n; i++) {
		for (j = 0; j < errs->v[i].nloc; j++)
			free(errs->v[i].loc[j]);
		free(errs->v[i].msg);
	}
	free(errs->v);
	free(errs->more_loc);
	verrs_init(errs);
}

void
verrs_add(struct verrs *errs, const char *type, const char *loc0,
    const char *loc1, const char *fmt, ...)
{
	struct verr	*e;
	va_list		 ap;

	if (verrs_full(errs, loc0))
		return;
	e = verrs_next(errs, type, loc0);
	if (loc1 != NULL)
		e->loc[e->nloc++] = verr_strdup(loc1);
	va_start(ap, fmt);
	e->msg = verr_vformat(fmt, ap);
	va_end(ap);
}

void
verrs_add_pos(struct verrs *errs, const char *type, const char *loc0,
    long long loc1, const char *fmt, ...)
{
	struct verr	*e;
	va_list		 ap;
	char		 buf[32];

	if (verrs_full(errs, loc0))
		return;
	e = verrs_next(errs, type, loc0);
	(void)snprintf(buf, sizeof(buf), "%lld", loc1);
	e->loc_int |= 1U << e->nloc;
	e->loc[e->nloc++] = verr_strdup(buf);
	va_start(ap, fmt);
	e->msg = verr_vformat(fmt, ap);
	va_end(ap);
}

/* 1 when errs holds VERRS_MAX entries: the error is only counted. */
static int
verrs_full(struct verrs *errs, const char *loc0)
{
	if (errs->n < VERRS_MAX)
		return (0);
	if (errs->more++ == 0)
		errs->more_loc = verr_strdup(loc0 != NULL ? loc0 : "body");
	return (1);
}

/* A new zeroed entry at the end of errs with its type and first loc. */
static struct verr *
verrs_next(struct verrs *errs, const char *type, const char *loc0)
{
	struct verr	*e;
	size_t		 cap;

	if (errs->n == errs->cap) {
		cap = errs->cap == 0 ? 4 : errs->cap * 2;
		if (cap > SIZE_MAX / sizeof(*errs->v))
			abort();
		errs->v = realloc(errs->v, cap * sizeof(*errs->v));
		if (errs->v == NULL)
			abort();
		errs->cap = cap;
	}
	e = &errs->v[errs->n++];
	memset(e, 0, sizeof(*e));
	e->type = type;
	if (loc0 != NULL)
		e->loc[e->nloc++] = verr_strdup(loc0);
	return (e);
}

static char *
verr_strdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		abort();
	return (p);
}

static char *
verr_vformat(const char *fmt, va_list ap)
{
	char	*s;

	if (vasprintf(&s, fmt, ap) == -1)
		abort();
	return (s);
}
