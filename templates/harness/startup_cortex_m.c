/* Start-up for any Cortex-M (v7-M, v8-M): a vector table with the initial stack pointer and
 * the reset, fault and SysTick handlers; reset switches the FPU on, copies .data from its
 * load address, zeroes .bss and calls main. Symbols come from the linker script. */
#include <stdint.h>
#include <string.h>

#include "semihosting.h"

extern uint32_t __stack_top[], __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
int main(void);

/* SysTick wraps every 2^24 ticks: the handler counts the wraps (see sn_ticks). */
volatile uint32_t sn_systick_wraps;

void Reset_Handler(void);
void Reset_Handler(void) {
    /* CPACR: full access to coprocessors 10 and 11 (the FPU and, on v8.1-M, Helium). */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    memcpy(__data_start, __data_load, (size_t)((char *)__data_end - (char *)__data_start));
    memset(__bss_start, 0, (size_t)((char *)__bss_end - (char *)__bss_start));
    sh_exit(main());
}

static void fault_handler(void) {
    sh_print("fault: the program crashed (hard fault, bus fault or usage fault)\n");
    sh_exit(3);
}

static void systick_handler(void) { sn_systick_wraps++; }

__attribute__((section(".vectors"), used)) static const uintptr_t vector_table[16] = {
    (uintptr_t)__stack_top,      /* initial stack pointer */
    (uintptr_t)Reset_Handler,    /* reset */
    (uintptr_t)fault_handler,    /* NMI */
    (uintptr_t)fault_handler,    /* hard fault */
    (uintptr_t)fault_handler,    /* memory management fault */
    (uintptr_t)fault_handler,    /* bus fault */
    (uintptr_t)fault_handler,    /* usage fault */
    (uintptr_t)fault_handler,    /* secure fault (v8-M) */
    0, 0, 0,                     /* reserved */
    (uintptr_t)fault_handler,    /* SVCall */
    (uintptr_t)fault_handler,    /* debug monitor */
    0,                           /* reserved */
    (uintptr_t)fault_handler,    /* PendSV */
    (uintptr_t)systick_handler,  /* SysTick */
};
