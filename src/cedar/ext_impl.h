/* ext_impl.h - private glue between ext.c (the function table) and the
 * per-type files ext_ip.c, ext_decimal.c, ext_datetime.c.
 *
 * Each *_check parser returns NULL on success or a static message saying
 * what is wrong with the literal; the public cedar_*_parse wrap them.  Every
 * cedar_ext_impl below follows ext.h: types checked here, -1 with *err. */
#ifndef WRIT_CEDAR_EXT_IMPL_H
#define WRIT_CEDAR_EXT_IMPL_H

#include "cedar/ext.h"

const char *cedar_ip_check(const char *s, size_t n, cv_ext *out);
const char *cedar_decimal_check(const char *s, size_t n, cv_ext *out);
const char *cedar_datetime_check(const char *s, size_t n, cv_ext *out);
const char *cedar_duration_check(const char *s, size_t n, cv_ext *out);

/* The ext value in args[i] when it has kind k, else NULL. */
static inline const cv_ext *cedar_ext_arg(const cv_value *args, size_t i, cv_ext_kind k)
{
    if (args[i].type != CV_EXT || !args[i].u.ext || args[i].u.ext->kind != k)
        return NULL;
    return args[i].u.ext;
}

/* Copy x into the arena and wrap it as a value; -1 on OOM. */
int cedar_ext_emit(wr_arena *a, const cv_ext *x, cv_value *out, const char **err);

/* ipaddr */
int cedar_ext_ip(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_is_ipv4(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_is_ipv6(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_is_loopback(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_is_multicast(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_is_in_range(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
size_t cedar_ip_format(const cv_ext *x, char *buf, size_t cap);

/* decimal */
int cedar_ext_decimal(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_dec_lt(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_dec_le(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_dec_gt(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_dec_ge(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
size_t cedar_decimal_format(const cv_ext *x, char *buf, size_t cap);

/* datetime and duration */
int cedar_ext_datetime(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_duration(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_offset(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_duration_since(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_to_date(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_to_time(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_to_ms(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_to_seconds(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_to_minutes(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_to_hours(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
int cedar_ext_to_days(wr_arena *a, const cv_value *args, cv_value *out, const char **err);
size_t cedar_datetime_format(const cv_ext *x, char *buf, size_t cap);
size_t cedar_duration_format(const cv_ext *x, char *buf, size_t cap);

#endif
