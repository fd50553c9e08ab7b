/* retry_after_parse on arbitrary header values: never crash; a result is
 * -1 or a non-negative number of milliseconds. */
#include "retry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char v[256];
  size_t n = size < sizeof(v) - 1 ? size : sizeof(v) - 1;
  memcpy(v, data, n);
  v[n] = '\0';
  int64_t ms = retry_after_parse(v, 1700000000);
  if (ms < -1)
    abort();
  return 0;
}
