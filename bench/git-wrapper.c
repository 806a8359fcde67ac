/*
 * The benchmark's `git` (bench/git-log.ts puts it first on PATH): appends one line per call to
 * $BENCH_GIT_LOG, then execs the real git ($BENCH_REAL_GIT) with the same argv. A C program, not a
 * shell script, so that counting git processes adds no shell process to the CPU being measured.
 * Line: "<epoch ms> <ppid> <cwd>" then each argument after a tab (tabs and newlines in arguments
 * become spaces, arguments longer than 160 bytes are cut).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void logCall(const char *file, int argc, char **argv) {
  char line[8192];
  char cwd[4096];
  struct timespec now;
  size_t n;
  clock_gettime(CLOCK_REALTIME, &now);
  if (!getcwd(cwd, sizeof cwd)) strcpy(cwd, "?");
  n = (size_t)snprintf(line, sizeof line, "%lld %d %s", (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000,
                       (int)getppid(), cwd);
  for (int i = 1; i < argc && n < sizeof line - 200; i++) {
    line[n++] = '\t';
    for (size_t j = 0; argv[i][j] && j < 160; j++) {
      char c = argv[i][j];
      line[n++] = (c == '\t' || c == '\n' || c == '\r') ? ' ' : c;
    }
  }
  line[n++] = '\n';
  int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ssize_t ignored = write(fd, line, n);
    (void)ignored;
    close(fd);
  }
}

int main(int argc, char **argv) {
  const char *real = getenv("BENCH_REAL_GIT");
  const char *file = getenv("BENCH_GIT_LOG");
  if (!real || !*real) real = "/usr/bin/git";
  if (file && *file) logCall(file, argc, argv);
  argv[0] = (char *)real;
  execv(real, argv);
  perror("bench git wrapper: exec");
  return 127;
}
