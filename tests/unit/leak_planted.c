/* userapi: a unit program that leaks on purpose: the leak check must catch it (make -C tests/unit leakcheck). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "model/verr.h"

/*
 * An error list filled and never freed, as a handler that forgot
 * verrs_free on one path would leave it. The test itself passes: only
 * LeakSanitizer, at exit, can tell.
 */
static void
planted_leak(void **state)
{
	struct verrs	*errs;

	if ((errs = malloc(sizeof(*errs))) == NULL)
		abort();
	verrs_init(errs);
	verrs_add(errs, "missing", "body", "name", "Field required");
	assert_int_equal(errs->n, 1);
	errs = NULL;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(planted_leak),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
