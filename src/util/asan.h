/* asan.h - WR_ASAN is 1 when AddressSanitizer instruments this build (gcc
 * says so with __SANITIZE_ADDRESS__, clang with __has_feature), else 0.
 * For code that keeps freed memory for reuse and must not under ASan, where
 * a use after free of it would go unseen, and for tests that count the heap. */
#ifndef WRIT_UTIL_ASAN_H
#define WRIT_UTIL_ASAN_H

#if defined(__SANITIZE_ADDRESS__)
#define WR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WR_ASAN 1
#endif
#endif
#ifndef WR_ASAN
#define WR_ASAN 0
#endif

#endif
