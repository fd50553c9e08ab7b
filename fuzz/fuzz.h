/* What every fuzz target shares: libFuzzer's entry point and ENSURE, a
 * check that stops the run (a crash libFuzzer records) when a property of
 * the code under test does not hold. */
#ifndef SPATE_FUZZ_H
#define SPATE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENSURE(cond)                                                          \
  do {                                                                        \
    if (!(cond))                                                              \
      abort();                                                                \
  } while (0)

#endif
