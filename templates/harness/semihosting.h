/* Arm semihosting: file and console I/O through the debugger or emulator (QEMU's
 * -semihosting-config enable=on,target=native), for boards without a file system. Each
 * call is a `bkpt 0xAB` with the operation in r0 and a pointer to its arguments in r1. */
#ifndef SN_SEMIHOSTING_H
#define SN_SEMIHOSTING_H

#include <stddef.h>

/* Opens a host file ("rb" or "wb"); returns a handle >= 0, or -1. */
int sh_open(const char *path, int write);
/* Reads or writes up to n bytes; returns the bytes transferred. */
size_t sh_read(int handle, void *buffer, size_t n);
size_t sh_write(int handle, const void *buffer, size_t n);
void sh_close(int handle);
/* Writes a NUL-terminated string to the host console. */
void sh_print(const char *text);
/* Ends the program; the emulator exits with `code` (SYS_EXIT_EXTENDED). */
void sh_exit(int code) __attribute__((noreturn));

#endif
