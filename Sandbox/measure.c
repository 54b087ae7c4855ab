/* executor-measure FD PROGRAM [ARGS...]: runs PROGRAM (found on PATH) as a child and, once it has ended, writes one
 * line "maxrss_kb utime_us stime_us\n" of its resource usage to file descriptor FD, then ends as the child did: the same
 * exit code, or the same signal (re-raised with its default action, core dumps off).
 *
 * Why it exists: a process's ru_maxrss counts the memory of the process it was before exec (the kernel keeps the old
 * address space's high-water mark), and the launcher is a Python interpreter of tens of megabytes: a C hello world
 * forked from it and exec'd reports about 10 MB. This helper is tiny and static, so the child it forks starts from its
 * few hundred kilobytes and ru_maxrss is the program's own. Installed as /usr/local/libexec/executor-measure in the
 * languages image (eng/prerequisites.sh); the launcher (Sandbox/launcher.py) runs commands through it when it exists.
 *
 * The child never holds FD, and this process is not dumpable, so the program cannot write a line of its own there. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static long long microseconds(struct timeval t) { return (long long)t.tv_sec * 1000000 + t.tv_usec; }

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: executor-measure FD PROGRAM [ARGS...]\n", stderr);
        return 125;
    }
    int fd = atoi(argv[1]);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* its /proc entries become root's: the program cannot open FD through them */
    pid_t pid = fork();
    if (pid < 0) {
        perror("executor-measure: fork");
        return 125;
    }
    if (pid == 0) {
        close(fd);
        signal(SIGPIPE, SIG_DFL); /* the launcher (Python) ignores these: a program expects their defaults */
        signal(SIGXFSZ, SIG_DFL);
        execvp(argv[2], argv + 2);
        int error = errno;
        fprintf(stderr, "%s: %s\n", argv[2], strerror(error));
        _exit(error == ENOENT ? 127 : 126); /* as a shell says "not found" and "cannot execute" */
    }
    int status;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            perror("executor-measure: wait4");
            return 125;
        }
    }
    char line[96];
    int length = snprintf(line, sizeof line, "%ld %lld %lld\n", usage.ru_maxrss, microseconds(usage.ru_utime),
                          microseconds(usage.ru_stime));
    if (write(fd, line, (size_t)length) < 0) {
        /* nobody reads the usage: the exit status still tells how the program ended */
    }
    close(fd);
    if (WIFSIGNALED(status)) {
        int signal_number = WTERMSIG(status);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        signal(signal_number, SIG_DFL);
        sigset_t only;
        sigemptyset(&only);
        sigaddset(&only, signal_number);
        sigprocmask(SIG_UNBLOCK, &only, NULL);
        raise(signal_number);
        return 128 + signal_number; /* a signal whose default is not to end the process (cannot have ended the child) */
    }
    return WEXITSTATUS(status);
}
