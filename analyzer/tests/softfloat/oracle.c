/* The oracle for analyzer/tests/softfloat.rs: stap's own runtime code for
 * its floating-point tapset (systemtap-common's runtime/softfloat.c,
 * included, not copied), driven line by line from stdin:
 *   OP A [B]   (hex bit patterns or decimals, per OP)
 * and each result printed on a line of its own. */
#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "softfloat.c"

static float64_t f(uint64_t v) { float64_t x; x.v = v; return x; }

int main(void)
{
	char op[32], line[4096];
	while (fgets(line, sizeof line, stdin)) {
		uint64_t a = 0, b = 0;
		long long n = 0;
		char text[4096] = "";
		if (sscanf(line, "%31s", op) != 1)
			continue;
		if (!strcmp(op, "fromstr")) {
			/* the rest of the line, as is */
			char *t = line + strlen("fromstr ");
			t[strcspn(t, "\n")] = 0;
			float64_t r = str_to_f64(t);
			if (r.v == defaultNaNF64UI)
				printf("invalid\n");
			else
				printf("%016" PRIx64 "\n", r.v);
			continue;
		}
		sscanf(line, "%*s %" SCNx64 " %" SCNx64, &a, &b);
		if (!strcmp(op, "add")) printf("%016" PRIx64 "\n", f64_add(f(a), f(b)).v);
		else if (!strcmp(op, "sub")) printf("%016" PRIx64 "\n", f64_sub(f(a), f(b)).v);
		else if (!strcmp(op, "mul")) printf("%016" PRIx64 "\n", f64_mul(f(a), f(b)).v);
		else if (!strcmp(op, "div")) printf("%016" PRIx64 "\n", f64_div(f(a), f(b)).v);
		else if (!strcmp(op, "rem")) printf("%016" PRIx64 "\n", f64_rem(f(a), f(b)).v);
		else if (!strcmp(op, "sqrt")) printf("%016" PRIx64 "\n", f64_sqrt(f(a)).v);
		else if (!strcmp(op, "eq")) printf("%d\n", (int)f64_eq(f(a), f(b)));
		else if (!strcmp(op, "le")) printf("%d\n", (int)f64_le(f(a), f(b)));
		else if (!strcmp(op, "lt")) printf("%d\n", (int)f64_lt(f(a), f(b)));
		else if (!strcmp(op, "toi64"))
			printf("%lld\n", (long long)f64_to_i64(f(a), (uint_fast8_t)b, true));
		else if (!strcmp(op, "fromi64"))
			printf("%016" PRIx64 "\n", i64_to_f64((int64_t)a).v);
		else if (!strcmp(op, "f32")) {
			float32_t x;
			x.v = (uint32_t)a;
			printf("%016" PRIx64 "\n", f32_to_f64(x).v);
		} else if (!strcmp(op, "tostr")) {
			char out[512];
			f64_to_str(out, sizeof out, f(a), (int)(int64_t)b);
			printf("%s\n", out);
		} else
			printf("?\n");
		(void)n;
		(void)text;
	}
	return 0;
}
