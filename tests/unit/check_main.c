/* check_main.c - runs one Check suite; PL_SUITE names its constructor. */
#include <check.h>
#include <stdlib.h>

Suite *PL_SUITE(void);

int main(void) {
    SRunner *sr = srunner_create(PL_SUITE());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
