/* userapi: validation error lists in FastAPI's shape (type, loc, msg). */

#ifndef USERAPI_MODEL_VERR_H
#define USERAPI_MODEL_VERR_H

#include <stddef.h>

#define VERR_LOC_MAX	3
#define VERRS_MAX	50	/* entries kept; the rest are only counted */

struct verr {
	const char	*type;			/* static: "missing", ... */
	char		*loc[VERR_LOC_MAX];	/* "body", "name"; malloc'd */
	size_t		 nloc;
	unsigned int	 loc_int;		/* bit i: loc[i] is a number */
	char		*msg;			/* malloc'd */
};

/*
 * A list of at most VERRS_MAX entries: later ones cost nothing but a
 * count (more) and are reported as one last entry, so a body of a
 * million unknown keys gets a small 422 in O(body) time.
 */
struct verrs {
	struct verr	*v;
	size_t		 n;
	size_t		 cap;
	size_t		 more;		/* errors past VERRS_MAX */
	char		*more_loc;	/* loc0 of the first of them */
};

void	verrs_init(struct verrs *);
void	verrs_free(struct verrs *);
/* Append one error; loc1 may be NULL. Allocation failure aborts. */
void	verrs_add(struct verrs *, const char *type, const char *loc0,
	    const char *loc1, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
/* Like verrs_add, but loc1 is a number on the wire: ["body", 12]. */
void	verrs_add_pos(struct verrs *, const char *type, const char *loc0,
	    long long loc1, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

#endif
