// Preloaded into the hub by `make callgrind`, never linked into anything.
//
// valgrind 3.19 (Debian 12) removes its own signal from the mask a program gives rt_sigsuspend by writing into that
// mask. libdispatch's signal thread, which the hub's main thread becomes once its async `main` hands over to
// dispatch, passes a `static const` mask: the write faults inside valgrind, which stops with "the 'impossible'
// happened". This sigsuspend passes a copy instead.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, _NSIG / 8);
}
