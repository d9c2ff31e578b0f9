/*
 * Echo load generator for benchmarks/echo.py.
 *
 * Theory of operation: N TCP connections to one echo server, each running a
 * ping-pong: send one message of SIZE bytes, wait until all SIZE bytes have
 * come back (and match what was sent), send the next.  One thread, one epoll
 * set, non-blocking sockets, so the generator spends its time in the kernel
 * and stays far from being the bottleneck (measure it against c_echo_server.c
 * to check).  Messages completed during a warm-up are not counted; the figure
 * is messages completed in the measured window divided by its length.
 *
 * usage: loadgen HOST PORT CONNECTIONS SIZE WARMUP_SECONDS DURATION_SECONDS
 * prints: messages=N seconds=S bytes=B cpu=F total=T
 * (cpu: the fraction of one CPU the generator itself used while measuring;
 * near 1.0 means the generator, not the server, limited the rate.  total:
 * messages completed including the warm-up, to divide the server's CPU time by)
 * exit status 0 on success; 2 on bad usage; 1 when the server misbehaved
 * (closed a connection, reset it, or echoed different bytes), with a reason
 * on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    size_t sent;     /* bytes of the current message written so far */
    size_t received; /* bytes of the current message echoed back so far */
    int want_write;  /* EPOLLOUT is registered */
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) this process has used. */
static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what) {
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char *what) {
    fprintf(stderr, "loadgen: %s\n", what);
    exit(1);
}

static int set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int connect_to(const char *host, int port) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) fail("host must be an IPv4 address");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* Non-blocking only after the (loopback, immediate) connect. */
    if (set_nonblocking(fd) < 0) die("fcntl");
    return fd;
}

static void set_write_interest(int ep, struct conn *c, int want) {
    if (c->want_write == want) return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
    c->want_write = want;
}

/* Write what is left of the current message; register EPOLLOUT if the socket is full. */
static void pump_send(int ep, struct conn *c, const char *message, size_t size) {
    while (c->sent < size) {
        ssize_t n = send(c->fd, message + c->sent, size - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            die("send");
        }
        c->sent += (size_t)n;
    }
    set_write_interest(ep, c, c->sent < size);
}

/* Read echoed bytes; returns 1 when the current message completed (and the next was sent). */
static int pump_receive(int ep, struct conn *c, const char *message, char *scratch, size_t size) {
    while (c->received < c->sent) {
        size_t expected = c->sent - c->received;
        /* Read one byte more than expected so an over-long echo is caught. */
        ssize_t n = recv(c->fd, scratch, expected + 1, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            if (errno == EINTR) continue;
            die("recv");
        }
        if (n == 0) fail("server closed a connection mid-benchmark");
        if ((size_t)n > expected) fail("server echoed more bytes than were sent");
        if (memcmp(scratch, message + c->received, (size_t)n) != 0) fail("server echoed different bytes");
        c->received += (size_t)n;
    }
    if (c->received < size) return 0; /* echo caught up with a message still being written */
    /* Whole message echoed: start the next one.  No further recv now: the
     * echo cannot be back yet, and epoll says when it is (one syscall saved). */
    c->sent = c->received = 0;
    pump_send(ep, c, message, size);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s HOST PORT CONNECTIONS SIZE WARMUP DURATION\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    int nconns = atoi(argv[3]);
    size_t size = (size_t)atol(argv[4]);
    double warmup = atof(argv[5]);
    double duration = atof(argv[6]);
    if (port <= 0 || nconns <= 0 || nconns > 10000 || size == 0 || duration <= 0 || warmup < 0) {
        fprintf(stderr, "loadgen: bad arguments\n");
        return 2;
    }

    char *message = malloc(size);
    char *scratch = malloc(size + 1);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    struct epoll_event *events = calloc((size_t)nconns, sizeof *events);
    if (!message || !scratch || !conns || !events) fail("out of memory");
    /* A pattern that differs by position, so reordered or stale bytes are caught. */
    for (size_t i = 0; i < size; i++) message[i] = (char)('a' + (i * 7 + i / 251) % 26);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = connect_to(host, port);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0) die("epoll_ctl");
    }
    for (int i = 0; i < nconns; i++) pump_send(ep, &conns[i], message, size);

    double start = now();
    double measure_from = start + warmup;
    double measure_until = measure_from + duration;
    unsigned long long counted = 0, total = 0;
    int measuring = warmup == 0;
    double cpu_at_start = cpu_seconds();
    for (;;) {
        double t = now();
        if (!measuring && t >= measure_from) {
            measuring = 1;
            cpu_at_start = cpu_seconds();
        }
        if (t >= measure_until) break;
        int timeout_ms = (int)((measuring ? measure_until - t : measure_from - t) * 1000) + 1;
        int ready = epoll_wait(ep, events, nconns, timeout_ms);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < ready; i++) {
            struct conn *c = events[i].data.ptr;
            if (events[i].events & EPOLLOUT) pump_send(ep, c, message, size);
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                int done = pump_receive(ep, c, message, scratch, size);
                total += (unsigned long long)done;
                if (measuring) counted += (unsigned long long)done;
            }
        }
    }
    double elapsed = now() - measure_from;
    double cpu = (cpu_seconds() - cpu_at_start) / elapsed;
    for (int i = 0; i < nconns; i++) close(conns[i].fd);
    close(ep);
    printf("messages=%llu seconds=%.6f bytes=%llu cpu=%.3f total=%llu\n", counted, elapsed,
           counted * (unsigned long long)size, cpu, total);
    free(message);
    free(scratch);
    free(conns);
    free(events);
    return 0;
}
