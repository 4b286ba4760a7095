/* rss_probe PROGRAM ARGS...: runs the program and prints its peak resident set in KB.
 * bench.py cannot take it from its own wait4: Linux carries a process's peak RSS across
 * exec, so a child forked from the (large) Python process would report Python's. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: rss_probe PROGRAM ARGS...\n"); return 2; }
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execvp(argv[1], argv + 1);
        perror("exec");
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    if (wait4(pid, &status, 0, &usage) < 0) { perror("wait4"); return 1; }
    printf("%ld\n", usage.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
