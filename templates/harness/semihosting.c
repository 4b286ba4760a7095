#include "semihosting.h"

#include <stdint.h>
#include <string.h>

enum { SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE0 = 0x04, SYS_WRITE = 0x05, SYS_READ = 0x06,
       SYS_EXIT = 0x18, SYS_EXIT_EXTENDED = 0x20 };
/* SYS_OPEN modes: ISO C fopen modes numbered 0..11; 1 is "rb", 5 is "wb". */
enum { MODE_RB = 1, MODE_WB = 5 };
/* SYS_EXIT reason: the application finished (subcode = exit status). */
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uintptr_t sh_call(uintptr_t op, const void *args) {
    register uintptr_t r0 __asm__("r0") = op;
    register uintptr_t r1 __asm__("r1") = (uintptr_t)args;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int sh_open(const char *path, int write) {
    const uintptr_t args[3] = {(uintptr_t)path, write ? MODE_WB : MODE_RB, strlen(path)};
    return (int)sh_call(SYS_OPEN, args);
}

/* SYS_READ and SYS_WRITE return the number of bytes NOT transferred. */
size_t sh_read(int handle, void *buffer, size_t n) {
    const uintptr_t args[3] = {(uintptr_t)handle, (uintptr_t)buffer, n};
    return n - sh_call(SYS_READ, args);
}

size_t sh_write(int handle, const void *buffer, size_t n) {
    const uintptr_t args[3] = {(uintptr_t)handle, (uintptr_t)buffer, n};
    return n - sh_call(SYS_WRITE, args);
}

void sh_close(int handle) {
    const uintptr_t args[1] = {(uintptr_t)handle};
    (void)sh_call(SYS_CLOSE, args);
}

void sh_print(const char *text) { (void)sh_call(SYS_WRITE0, text); }

void sh_exit(int code) {
    const uintptr_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uintptr_t)code};
    (void)sh_call(SYS_EXIT_EXTENDED, args);
    for (;;) (void)sh_call(SYS_EXIT, (const void *)(uintptr_t)ADP_STOPPED_APPLICATION_EXIT);
}
