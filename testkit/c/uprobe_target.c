/* A program with known calls for the user-space probe tests: every
 * function is called a number of times the test knows, with arguments
 * and return values it can compute. Built by retap_testkit::uprobe_target
 * with and without -g; its SDT marks come from Debian's
 * systemtap-sdt-dev. */
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/sdt.h>

/* Each mark's semaphore. The program only reaches mark "guarded" when a
 * tracer set its semaphore, as runtimes guard costly arguments; the
 * others fire whatever their semaphore says. */
#define SEMAPHORE(name) \
	__extension__ unsigned short retap_test_##name##_semaphore \
		__attribute__((unused)) __attribute__((section(".probes")))
SEMAPHORE(tick);
SEMAPHORE(guarded);
SEMAPHORE(name);
SEMAPHORE(many);

__attribute__((noinline)) long rt_add(long a, long b)
{
	__asm__ volatile("" ::: "memory");
	return a + b;
}

__attribute__((noinline)) const char *rt_greet(const char *who)
{
	static char buf[64];
	snprintf(buf, sizeof(buf), "hello %s", who);
	return buf;
}

/* Called through a volatile pointer so the compiler keeps the recursion
 * (each level its own entry and return). */
long rt_fact(long n);
static long (*volatile fact_p)(long) = rt_fact;

__attribute__((noinline)) long rt_fact(long n)
{
	return n <= 1 ? 1 : n * fact_p(n - 1);
}

/* A function whose return takes a known time. */
__attribute__((noinline)) int rt_nap(int us)
{
	struct timespec t = {0, us * 1000L};
	nanosleep(&t, NULL);
	return us;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10;
	long sum = 0;
	for (long i = 0; i < n; i++) {
		sum += rt_add(i, 2 * i);
		STAP_PROBE2(retap_test, tick, i, -i);
		if (retap_test_guarded_semaphore)
			STAP_PROBE1(retap_test, guarded, i * 10);
	}
	const char *names[] = {"world", "retap", "stap"};
	for (int i = 0; i < 3; i++) {
		rt_greet(names[i]);
		STAP_PROBE1(retap_test, name, names[i]);
	}
	rt_fact(5);
	/* stap's most arguments for a mark: twelve */
	STAP_PROBE12(retap_test, many, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, (long)n);
	rt_nap(2000);
	printf("%ld\n", sum);
	/* A second argument: milliseconds to stay alive, so that a recorder
	 * behind a loaded machine still finds the process's memory maps when
	 * it reads its first stack. */
	if (argc > 2) {
		fflush(stdout);
		long ms = atol(argv[2]);
		struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&t, NULL);
	}
	return 0;
}
