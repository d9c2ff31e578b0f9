/*
 * TLS echo load generator for benchmarks/echo.py (the TLS styles).
 *
 * Theory of operation: the same ping-pong as loadgen.c (N connections, each
 * sending one message of SIZE bytes and waiting for all of it to come back,
 * checked byte for byte), with every connection wrapped in an OpenSSL client
 * session.  The handshakes happen before the clock starts (blocking, one
 * connection at a time), so the figure is the cost of encrypted application
 * data, not of handshakes.  After that the sockets are non-blocking under one
 * epoll set; an SSL_read or SSL_write that needs the socket waits for the
 * readiness it names (SSL_ERROR_WANT_READ / WANT_WRITE), and SSL_read is
 * repeated until OpenSSL has no buffered plaintext left, so no echoed byte
 * waits inside OpenSSL for a readiness event that never comes.
 *
 * The server's certificate is not verified: the peer is a benchmark server on
 * loopback, and verification happens once per handshake, outside the window.
 *
 * usage: loadgen_tls HOST PORT CONNECTIONS SIZE WARMUP_SECONDS DURATION_SECONDS
 * prints: messages=N seconds=S bytes=B cpu=F total=T   (as loadgen.c)
 * exit status 0 on success; 2 on bad usage; 1 when the server misbehaved
 * (TLS error, closed or reset a connection, echoed different bytes), with a
 * reason on stderr.
 *
 * build: gcc -O2 loadgen_tls.c -lssl -lcrypto (echo.py does this on first use)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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
    SSL *ssl;
    size_t sent;     /* plaintext bytes of the current message accepted by SSL_write */
    size_t received; /* plaintext bytes of the current message echoed back */
    int want_write;  /* EPOLLOUT is registered */
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

static void die(const char *what) {
    fprintf(stderr, "loadgen_tls: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char *what) {
    fprintf(stderr, "loadgen_tls: %s\n", what);
    exit(1);
}

static void fail_tls(const char *what, SSL *ssl, int result) {
    int error = SSL_get_error(ssl, result);
    unsigned long code = ERR_get_error();
    char reason[256] = "";
    if (code) ERR_error_string_n(code, reason, sizeof reason);
    if (error == SSL_ERROR_ZERO_RETURN) fail("server closed a connection (close_notify) mid-benchmark");
    if (error == SSL_ERROR_SYSCALL && !code) {
        if (errno) die(what);
        fail("server closed a connection mid-benchmark");
    }
    fprintf(stderr, "loadgen_tls: %s: TLS error %d %s\n", what, error, reason);
    exit(1);
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
    return fd;
}

static void set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl");
}

static void set_write_interest(int ep, struct conn *c, int want) {
    if (c->want_write == want) return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
    c->want_write = want;
}

/* Encrypt what is left of the current message; register EPOLLOUT if OpenSSL waits for the socket. */
static void pump_send(int ep, struct conn *c, const char *message, size_t size) {
    int blocked_on_write = 0;
    while (c->sent < size) {
        int n = SSL_write(c->ssl, message + c->sent, (int)(size - c->sent));
        if (n > 0) {
            c->sent += (size_t)n; /* partial writes are enabled */
            continue;
        }
        int error = SSL_get_error(c->ssl, n);
        if (error == SSL_ERROR_WANT_WRITE) blocked_on_write = 1;
        else if (error != SSL_ERROR_WANT_READ) fail_tls("SSL_write", c->ssl, n);
        break;
    }
    set_write_interest(ep, c, blocked_on_write);
}

/* Read echoed plaintext until OpenSSL needs the socket; returns messages completed. */
static int pump_receive(int ep, struct conn *c, const char *message, char *scratch, size_t size) {
    int completed = 0;
    for (;;) {
        int n = SSL_read(c->ssl, scratch, (int)(size + 1));
        if (n <= 0) {
            int error = SSL_get_error(c->ssl, n);
            if (error == SSL_ERROR_WANT_READ) return completed;
            if (error == SSL_ERROR_WANT_WRITE) {
                set_write_interest(ep, c, 1);
                return completed;
            }
            fail_tls("SSL_read", c->ssl, n);
        }
        if (c->received + (size_t)n > c->sent) fail("server echoed more bytes than were sent");
        if (memcmp(scratch, message + c->received, (size_t)n) != 0) fail("server echoed different bytes");
        c->received += (size_t)n;
        if (c->received == size) {
            completed++;
            c->sent = c->received = 0;
            pump_send(ep, c, message, size);
        }
    }
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
    if (port <= 0 || nconns <= 0 || nconns > 10000 || size == 0 || size > (1 << 30) || duration <= 0 ||
        warmup < 0) {
        fprintf(stderr, "loadgen_tls: bad arguments\n");
        return 2;
    }

    char *message = malloc(size);
    char *scratch = malloc(size + 1);
    struct conn *conns = calloc((size_t)nconns, sizeof *conns);
    struct epoll_event *events = calloc((size_t)nconns, sizeof *events);
    if (!message || !scratch || !conns || !events) fail("out of memory");
    for (size_t i = 0; i < size; i++) message[i] = (char)('a' + (i * 7 + i / 251) % 26);

    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (!context) fail("SSL_CTX_new failed");
    SSL_CTX_set_verify(context, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->fd = connect_to(host, port);
        c->ssl = SSL_new(context);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) fail("SSL_new failed");
        int result = SSL_connect(c->ssl); /* blocking: before the clock starts */
        if (result != 1) fail_tls("handshake", c->ssl, result);
        set_nonblocking(c->fd);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
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
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLOUT)) {
                int done = pump_receive(ep, c, message, scratch, size);
                total += (unsigned long long)done;
                if (measuring) counted += (unsigned long long)done;
            }
        }
    }
    double elapsed = now() - measure_from;
    double cpu = (cpu_seconds() - cpu_at_start) / elapsed;
    for (int i = 0; i < nconns; i++) {
        SSL_free(conns[i].ssl); /* no close_notify: the server sees a plain EOF */
        close(conns[i].fd);
    }
    SSL_CTX_free(context);
    close(ep);
    printf("messages=%llu seconds=%.6f bytes=%llu cpu=%.3f total=%llu\n", counted, elapsed,
           counted * (unsigned long long)size, cpu, total);
    free(message);
    free(scratch);
    free(conns);
    free(events);
    return 0;
}
