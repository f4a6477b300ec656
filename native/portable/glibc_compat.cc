// The portable prebuild's glibc floor (DEEPCONV_PORTABLE=1; see binding.gyp).
//
// Linked against this machine's glibc, the addon would ask for the newest version of every symbol
// whose version glibc has bumped: pthread_* moved into libc in 2.34, exp/log/pow lost their errno
// wrappers in 2.29, pthread_sigmask moved in 2.32, and the statically linked libstdc++ calls arc4random (2.36), getentropy (2.25)
// and reads __libc_single_threaded (2.32). Each such call is routed (ld --wrap=NAME, the list is
// read from this file's __wrap_ definitions) to the symbol's oldest version, which every glibc
// since still exports, so one file loads on glibc 2.18 and later (2.18: __cxa_thread_atexit_impl,
// which thread_local destructors need). Same functions, same results; only the version differs.
#include <features.h>  // defines __GLIBC__
#if defined(__linux__) && defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__))
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

// The oldest version each architecture's glibc has: 2.2.5 on x86-64, 2.17 on arm64 (its first).
#if defined(__x86_64__)
#define DEEPCONV_GLIBC_BASE "GLIBC_2.2.5"
#else
#define DEEPCONV_GLIBC_BASE "GLIBC_2.17"
#endif

// OLD(name): `old_name` is `name` at the base version.
#define OLD(name) __asm__(".symver old_" #name "," #name "@" DEEPCONV_GLIBC_BASE)

extern "C" {

OLD(pthread_create);
OLD(pthread_join);
OLD(pthread_detach);
OLD(pthread_once);
OLD(pthread_key_create);
OLD(__pthread_key_create);
OLD(pthread_key_delete);
OLD(pthread_getspecific);
OLD(pthread_setspecific);
OLD(pthread_mutex_trylock);
OLD(pthread_sigmask);
OLD(exp);
OLD(log);
OLD(pow);

int old_pthread_create(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
int old_pthread_join(pthread_t, void**);
int old_pthread_detach(pthread_t);
int old_pthread_once(pthread_once_t*, void (*)(void));
int old_pthread_key_create(pthread_key_t*, void (*)(void*));
int old___pthread_key_create(pthread_key_t*, void (*)(void*));
int old_pthread_key_delete(pthread_key_t);
void* old_pthread_getspecific(pthread_key_t);
int old_pthread_setspecific(pthread_key_t, const void*);
int old_pthread_mutex_trylock(pthread_mutex_t*);
int old_pthread_sigmask(int, const sigset_t*, sigset_t*);
double old_exp(double);
double old_log(double);
double old_pow(double, double);

// The wrappers are no part of the addon's interface (the old_ declarations above must stay
// default-visibility: they bind to glibc).
#pragma GCC visibility push(hidden)

int __wrap_pthread_create(pthread_t* t, const pthread_attr_t* a, void* (*f)(void*), void* arg) {
  return old_pthread_create(t, a, f, arg);
}
int __wrap_pthread_join(pthread_t t, void** r) { return old_pthread_join(t, r); }
int __wrap_pthread_detach(pthread_t t) { return old_pthread_detach(t); }
int __wrap_pthread_once(pthread_once_t* o, void (*f)(void)) { return old_pthread_once(o, f); }
int __wrap_pthread_key_create(pthread_key_t* k, void (*d)(void*)) { return old_pthread_key_create(k, d); }
int __wrap___pthread_key_create(pthread_key_t* k, void (*d)(void*)) { return old___pthread_key_create(k, d); }
int __wrap_pthread_key_delete(pthread_key_t k) { return old_pthread_key_delete(k); }
void* __wrap_pthread_getspecific(pthread_key_t k) { return old_pthread_getspecific(k); }
int __wrap_pthread_setspecific(pthread_key_t k, const void* v) { return old_pthread_setspecific(k, v); }
int __wrap_pthread_mutex_trylock(pthread_mutex_t* m) { return old_pthread_mutex_trylock(m); }
int __wrap_pthread_sigmask(int how, const sigset_t* set, sigset_t* old) { return old_pthread_sigmask(how, set, old); }
double __wrap_exp(double x) { return old_exp(x); }
double __wrap_log(double x) { return old_log(x); }
double __wrap_pow(double x, double y) { return old_pow(x, y); }

// getentropy (2.25) and arc4random (2.36), for std::random_device: the getrandom system call
// (Linux 3.17), else /dev/urandom.
int __wrap_getentropy(void* buf, size_t n) {
  if (n > 256) {
    errno = EIO;
    return -1;
  }
  unsigned char* p = static_cast<unsigned char*>(buf);
  size_t got = 0;
#ifdef SYS_getrandom
  while (got < n) {
    long r = syscall(SYS_getrandom, p + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += size_t(r);
  }
#endif
  if (got < n) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    while (got < n) {
      ssize_t r = read(fd, p + got, n - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += size_t(r);
    }
    close(fd);
  }
  if (got < n) {
    errno = EIO;
    return -1;
  }
  return 0;
}

uint32_t __wrap_arc4random(void) {
  uint32_t v = 0;
  if (__wrap_getentropy(&v, sizeof v) != 0) {
    // No entropy source at all: arc4random cannot fail, so mix the clock and the address space.
    v = uint32_t(uintptr_t(&v)) ^ uint32_t(uintptr_t(__builtin_frame_address(0)) >> 7);
  }
  return v;
}

// libstdc++ skips atomic reference counts while this is nonzero; 0 (never "single-threaded") is
// always correct, and this copy, hidden, takes the place of glibc 2.32's.
char __libc_single_threaded = 0;

#pragma GCC visibility pop
}  // extern "C"
#endif
