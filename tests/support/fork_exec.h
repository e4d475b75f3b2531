// Starting a peer (jackd, Xvfb, pulseaudio, xfreerdp...) from a test: a child in a process group
// of its own that dies with the test (a crashed test leaves nothing behind).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace ae::test {

// Runs `args` in a child; `wire_fds()` runs in the child before exec (async-signal-safe calls
// only: open, dup2). Signals stay blocked from fork until the child's handlers are back to their
// defaults: a signal for a child that has not exec'd yet must not run the test framework's handler
// in a copy of the test (it printed a copy of the test's unflushed output and "CRASHED").
template <typename WireFds>
pid_t fork_exec(std::vector<std::string> args, WireFds&& wire_fds) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    sigset_t all, before;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &before);
    const pid_t pid = ::fork();
    if (pid != 0) {
        ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
        return pid;
    }
    for (const int sig : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGSEGV, SIGABRT, SIGFPE, SIGILL, SIGBUS, SIGPIPE}) ::signal(sig, SIG_DFL);
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    wire_fds();
    ::execvp(argv[0], argv.data());
    ::_exit(127);
}

} // namespace ae::test
