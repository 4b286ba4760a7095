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

int main(void) {
    vec acc[12], m, a;
    for (int i = 0; i < VEC; i++) { m[i] = 0.999999f; a[i] = 1e-7f; }
    for (int c = 0; c < 12; c++) acc[c] = m * (float)c;
    const long iterations = 200000000L / VEC;
    double best = 0;
    for (int trial = 0; trial < 5; trial++) {
        double t0 = now();
        for (long i = 0; i < iterations; i++) {
            for (int c = 0; c < 12; c++) acc[c] = acc[c] * m + a;
            __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]));
        }
        double s = now() - t0;
        double gflops = 2.0 * 12 * VEC * (double)iterations / s / 1e9;
        if (gflops > best) best = gflops;
    }
    float sink = 0;
    for (int c = 0; c < 12; c++) for (int i = 0; i < VEC; i++) sink += acc[c][i];
    printf("peak %.1f GFLOP/s (vector width %d floats, checksum %g)\n", best, VEC, (double)sink);
    return 0;
}
