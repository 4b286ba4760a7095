/* A bare-metal main around one emitted network: reads the input image from the host
 * (semihosting), runs one inference, checks the guard zones around the arena and the
 * logits, writes the logits back and prints one line:
 *
 *   shufflenet-board: ticks T, stack S bytes, guards intact
 *
 * T is SysTick ticks (processor clock) over the inference; S the deepest stack use of the
 * whole program, from a painted stack. Exit status 0 on success, 1 on an I/O error, 2 if
 * infer failed or touched a guard byte.
 *
 * Build with the model's names: -DSN_MODEL=shufflenet_v2_0_5x -DSN_MODEL_UPPER=SHUFFLENET_V2_0_5X
 * -DSN_MODEL_HEADER='"shufflenet_v2_0_5x.h"'. Files: SN_INPUT_FILE (raw little-endian
 * float32, NCHW) and SN_OUTPUT_FILE, relative to the emulator's working folder.
 * -DSN_QUANTIZED_INPUT (int8 networks): the input file holds the image already quantized
 * (uint8, see the header's _INPUT_SCALE) and goes to _infer_quantized, so the board holds
 * a quarter of the float image's bytes. */
#include <stdint.h>
#include <string.h>

#include SN_MODEL_HEADER
#include "semihosting.h"

#define SN_JOIN2(a, b) a##b
#define SN_JOIN(a, b) SN_JOIN2(a, b)
#ifdef SN_QUANTIZED_INPUT
#define SN_INFER SN_JOIN(SN_MODEL, _infer_quantized)
typedef uint8_t sn_input_t;
#else
#define SN_INFER SN_JOIN(SN_MODEL, _infer)
typedef float sn_input_t;
#endif
#define SN_INPUT_SIZE SN_JOIN(SN_MODEL_UPPER, _INPUT_SIZE)
#define SN_OUTPUT_SIZE SN_JOIN(SN_MODEL_UPPER, _OUTPUT_SIZE)
#define SN_ARENA_BYTES SN_JOIN(SN_MODEL_UPPER, _ARENA_BYTES)

#ifndef SN_INPUT_FILE
#define SN_INPUT_FILE "input.bin"
#endif
#ifndef SN_OUTPUT_FILE
#define SN_OUTPUT_FILE "logits.bin"
#endif

/* Bytes on each side of the arena and the logits that infer must leave alone. */
#define SN_GUARD_BYTES 256
#define SN_GUARD_VALUE 0xA5u
#define SN_STACK_PAINT 0x5AC4F00Du

static struct {
    uint8_t before[SN_GUARD_BYTES];
    uint8_t arena[(SN_ARENA_BYTES + 63) / 64 * 64];
    uint8_t after[SN_GUARD_BYTES];
} arena_zone __attribute__((aligned(64)));

static struct {
    uint8_t before[SN_GUARD_BYTES];
    float logits[SN_OUTPUT_SIZE];
    uint8_t after[SN_GUARD_BYTES];
} logits_zone __attribute__((aligned(64)));

static sn_input_t input[SN_INPUT_SIZE];

extern uint32_t __stack_limit[], __stack_top[];
extern volatile uint32_t sn_systick_wraps;

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static void sn_ticks_start(void) {
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* enable, interrupt on wrap, processor clock */
    /* Writing CVR clears it; it loads RVR on the next tick: count from there. */
    while (SYST_CVR == 0) {}
    sn_systick_wraps = 0;
}

/* Ticks since sn_ticks_start: wraps x 2^24 plus the down-counter's progress. */
static uint64_t sn_ticks(void) {
    uint32_t wraps, value;
    do {
        wraps = sn_systick_wraps;
        value = SYST_CVR;
    } while (wraps != sn_systick_wraps);
    return (uint64_t)wraps * 0x1000000u + (0xFFFFFFu - value);
}

static int sn_guards_intact(const uint8_t *guard) {
    for (int i = 0; i < SN_GUARD_BYTES; i++)
        if (guard[i] != SN_GUARD_VALUE) return 0;
    return 1;
}

/* Appends the decimal digits of v to *out. */
static void sn_append_number(char **out, uint64_t v) {
    char digits[24];
    int n = 0;
    do { digits[n++] = (char)('0' + v % 10u); v /= 10u; } while (v != 0);
    while (n > 0) *(*out)++ = digits[--n];
}

static void sn_append(char **out, const char *s) {
    while (*s) *(*out)++ = *s++;
}

int main(void) {
    /* Paint the stack below this frame, so its deepest use shows afterwards. */
    uint32_t *sp = (uint32_t *)__builtin_frame_address(0) - 64;
    for (uint32_t *p = __stack_limit; p < sp; p++) *p = SN_STACK_PAINT;

    int in = sh_open(SN_INPUT_FILE, 0);
    if (in < 0) { sh_print("error: cannot open " SN_INPUT_FILE "\n"); return 1; }
    uint8_t extra;
    const int complete = sh_read(in, input, sizeof input) == sizeof input && sh_read(in, &extra, 1) == 0;
    sh_close(in);
    if (!complete) { sh_print("error: " SN_INPUT_FILE " is not the size of one input image\n"); return 1; }

    memset(arena_zone.before, SN_GUARD_VALUE, SN_GUARD_BYTES);
    memset(arena_zone.after, SN_GUARD_VALUE, SN_GUARD_BYTES);
    memset(logits_zone.before, SN_GUARD_VALUE, SN_GUARD_BYTES);
    memset(logits_zone.after, SN_GUARD_VALUE, SN_GUARD_BYTES);

    sn_ticks_start();
    const uint64_t t0 = sn_ticks();
    const int status = SN_INFER(input, logits_zone.logits, arena_zone.arena);
    const uint64_t ticks = sn_ticks() - t0;
    SYST_CSR = 0;

    const uint32_t *deepest = __stack_limit;
    while (deepest < __stack_top && *deepest == SN_STACK_PAINT) deepest++;
    const int guards = sn_guards_intact(arena_zone.before) && sn_guards_intact(arena_zone.after)
                    && sn_guards_intact(logits_zone.before) && sn_guards_intact(logits_zone.after);

    char line[160], *out = line;
    sn_append(&out, "shufflenet-board: ticks ");
    sn_append_number(&out, ticks);
    sn_append(&out, ", stack ");
    sn_append_number(&out, (uint64_t)((uintptr_t)__stack_top - (uintptr_t)deepest));
    sn_append(&out, guards ? " bytes, guards intact\n" : " bytes, GUARD BYTES OVERWRITTEN\n");
    *out = 0;
    sh_print(line);
    if (status != 0) { sh_print("error: infer returned an error\n"); return 2; }
    if (!guards) return 2;

    int o = sh_open(SN_OUTPUT_FILE, 1);
    if (o < 0) { sh_print("error: cannot create " SN_OUTPUT_FILE "\n"); return 1; }
    const int written = sh_write(o, logits_zone.logits, sizeof logits_zone.logits) == sizeof logits_zone.logits;
    sh_close(o);
    if (!written) { sh_print("error: cannot write " SN_OUTPUT_FILE "\n"); return 1; }
    return 0;
}
