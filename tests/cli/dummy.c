/* dummy.c - an empty shared library that `ckpt run` preloads in the CLI tests
 * (CKPT_LIB), so they run without the real libckpt.so. */
int ckpt_cli_test_dummy(void);
int ckpt_cli_test_dummy(void) { return 0; }
