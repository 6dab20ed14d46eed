/* startup.c - checks `writ serve` makes before it writes anything: that its
 * listen address is free and that no other `writ serve` uses its state
 * folder.  Both fail fast with what to do instead, so a second server
 * started by mistake (the README's walkthroughs all default to
 * 127.0.0.1:8180 and ./writ-state) never touches the first one's files:
 * without the lock it opened the same audit log, signed a checkpoint over
 * the running server's records (which `writ audit verify` then reports as
 * adopted after a crash) and refused every decision of its own with 503. */
#define _GNU_SOURCE
#include "server/server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

int srv_listen_probe(const char *host, unsigned port, char *why, size_t n)
{
    if (port == 0)
        return 0; /* any free port: nothing to collide with */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        len = sizeof *v6;
    } else {
        return 0; /* the daemon's start says what is wrong with it */
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    /* as libmicrohttpd binds: a port in TIME_WAIT is free, one with a
     * listener is not (Linux refuses that even with SO_REUSEADDR) */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int rc = bind(fd, (struct sockaddr *)&ss, len);
    int e = errno;
    close(fd);
    if (rc == 0)
        return 0;
    if (e == EADDRINUSE)
        snprintf(why, n,
                 "cannot listen on %s:%u: the address is in use (another writ serve, or another program, "
                 "listens there): stop it, or give this server another address with --listen HOST:PORT "
                 "(listen = HOST:PORT in a config file; port 0 picks a free one)",
                 host, port);
    else
        snprintf(why, n, "cannot listen on %s:%u: %s", host, port, strerror(e));
    return -1;
}

/* The pid the holder wrote into the lock file, or 0. */
static long lock_holder(int fd)
{
    char buf[32];
    ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
    if (r <= 0)
        return 0;
    buf[r] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    return pid > 0 && (*end == '\n' || *end == '\0') ? pid : 0;
}

int srv_state_lock(const char *dir, char *why, size_t n)
{
    char path[4200];
    if ((size_t)snprintf(path, sizeof path, "%s/writ.lock", dir) >= sizeof path) {
        snprintf(why, n, "state folder %.200s...: path too long", dir);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(why, n, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        long pid = e == EWOULDBLOCK ? lock_holder(fd) : 0;
        close(fd);
        if (e != EWOULDBLOCK) {
            snprintf(why, n, "cannot lock %s: %s", path, strerror(e));
            return -1;
        }
        char who[48] = "";
        if (pid)
            snprintf(who, sizeof who, " (pid %ld)", pid);
        snprintf(why, n,
                 "the state folder %s is in use by another writ serve%s: two servers cannot share one "
                 "audit log; stop that one, or give this one its own folder with --state-dir DIR "
                 "(state_dir = DIR in a config file)",
                 dir, who);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        /* the lock holds all the same; the pid only improves the message */
    }
    return fd;
}
