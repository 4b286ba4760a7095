/* Peak single-core FP32 FMA throughput: 12 independent chains of the widest vector the
 * compiler targets, long enough that loop overhead vanishes. Prints GFLOP/s (2 per FMA). */
#include <stdio.h>
#include <time.h>

#if defined(__AVX512F__)
#define VEC 16
#elif defined(__AVX__)
#define VEC 8
#else
#define VEC 4
#endif
typedef float vec __attribute__((vector_size(VEC * sizeof(float))));

static double now(void) {
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Twelve accumulators as separate variables, so they live in registers. */
#define CHAINS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

int main(void) {
    vec m, a;
    for (int i = 0; i < VEC; i++) { m[i] = 0.999999f; a[i] = 1e-7f; }
#define DECLARE(c) vec acc##c = m * (float)(c);
    CHAINS(DECLARE)
    const long iterations = 200000000L / VEC;
    double best = 0;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = now();
        for (long i = 0; i < iterations; i++) {
#define STEP(c) acc##c = acc##c * m + a;
            CHAINS(STEP)
        }
        double s = now() - t0;
        double gflops = 2.0 * 12 * VEC * (double)iterations / s / 1e9;
        if (gflops > best) best = gflops;
    }
    float sink = 0;
#define SUM(c) for (int i = 0; i < VEC; i++) sink += acc##c[i];
    CHAINS(SUM)
    printf("peak %.1f GFLOP/s (vector width %d floats, checksum %g)\n", best, VEC, (double)sink);
    return 0;
}
