/* A main for the C that emx-onnx-cgen emits from a ShuffleNet ONNX file, with the protocol
 * of shufflenet-gen's emitted programs (bench.py's Program rows):
 *     prog input.npy logits.npy [runs]   -> writes the logits; with runs, prints `times: ...`
 * Built by bench.py: cc -O3 -march=native -DEMX_WEIGHTS='"/path/model.bin"' emx_main.c model.c -lm */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Bool model_load(const char *path);
void model(const float input[restrict 1][3][224][224], float logits[restrict 1][1000]);

static float input[1][3][224][224];
static float logits[1][1000];

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int read_npy(const char *path, float *dst, size_t count) {
    FILE *f = fopen(path, "rb");
    unsigned char head[10];
    if (!f || fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0 || head[6] != 1) {
        fprintf(stderr, "error: %s: not a version 1 .npy file\n", path);
        if (f) fclose(f);
        return 1;
    }
    size_t hlen = (size_t)head[8] | ((size_t)head[9] << 8);
    if (fseek(f, (long)(10 + hlen), SEEK_SET) != 0 || fread(dst, sizeof(float), count, f) != count) {
        fprintf(stderr, "error: %s: expected %zu float32 values\n", path, count);
        fclose(f);
        return 1;
    }
    fclose(f);
    return 0;
}

static int write_npy(const char *path, const float *src, size_t count) {
    char header[128];
    int n = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, %zu), }", count);
    int pad = (64 - (10 + n + 1) % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    unsigned short len = (unsigned short)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(len & 0xff, f);
    fputc(len >> 8, f);
    fwrite(header, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(src, sizeof(float), count, f);
    return fclose(f) != 0;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s input.npy logits.npy [runs]\n", argv[0]);
        return 2;
    }
    if (!model_load(EMX_WEIGHTS)) { fprintf(stderr, "error: cannot load %s\n", EMX_WEIGHTS); return 1; }
    if (read_npy(argv[1], &input[0][0][0][0], sizeof input / sizeof(float)) != 0) return 1;
    model(input, logits);
    if (argc == 4) {
        int runs = atoi(argv[3]);
        if (runs < 1) runs = 1;
        double *ms = malloc(sizeof(double) * (size_t)runs);
        if (!ms) return 1;
        for (int r = 0; r < runs; r++) {
            double t0 = now_ms();
            model(input, logits);
            ms[r] = now_ms() - t0;
        }
        qsort(ms, (size_t)runs, sizeof(double), compare_double);
        printf("times:");
        for (int r = 0; r < runs; r++) printf(" %.4f", ms[r]);
        printf("\n");
        free(ms);
    }
    return write_npy(argv[2], &logits[0][0], 1000);
}
