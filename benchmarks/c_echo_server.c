/*
 * A minimal epoll TCP echo server in C: the ceiling row of benchmarks/echo.py.
 *
 * It answers the question "is the load generator the bottleneck?": if the
 * Python servers reach a large fraction of this server's messages/s, the
 * harness is limiting them, not their loops.
 *
 * Theory of operation: one thread, level-triggered epoll.  Each connection
 * owns a buffer; readable sockets are read into the free part of the buffer
 * and the buffer is written straight back.  When the socket will not take
 * everything, the rest stays buffered, reading stops (backpressure) and
 * EPOLLOUT is watched until the buffer drains.
 *
 * usage: c_echo_server  (binds 127.0.0.1 port 0, prints "PORT n", serves until
 * its standard input reaches end of file, like the Python servers).
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
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_SIZE (256 * 1024)

struct conn {
    int fd;
    size_t start, end; /* unsent bytes are buffer[start:end] */
    int writing;       /* watching EPOLLOUT (and not EPOLLIN) */
    char buffer[BUFFER_SIZE];
};

static void die(const char *what) {
    fprintf(stderr, "c_echo_server: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void watch(int ep, int op, int fd, unsigned events, void *ptr) {
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    if (epoll_ctl(ep, op, fd, &ev) < 0) die("epoll_ctl");
}

static void drop(int ep, struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Send buffered bytes; returns 0 when the connection failed and was dropped. */
static int flush(int ep, struct conn *c) {
    while (c->start < c->end) {
        ssize_t n = send(c->fd, c->buffer + c->start, c->end - c->start, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                if (!c->writing) watch(ep, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
                c->writing = 1;
                return 1;
            }
            if (errno == EINTR) continue;
            drop(ep, c);
            return 0;
        }
        c->start += (size_t)n;
    }
    c->start = c->end = 0;
    /* Only switch back when needed: one epoll_ctl per message would cost. */
    if (c->writing) watch(ep, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
    c->writing = 0;
    return 1;
}

static void on_ready(int ep, struct conn *c, unsigned events) {
    if (events & EPOLLOUT) {
        flush(ep, c);
        return;
    }
    ssize_t n = recv(c->fd, c->buffer, BUFFER_SIZE, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
        drop(ep, c);
        return;
    }
    c->start = 0;
    c->end = (size_t)n;
    flush(ep, c);
}

static int listen_on_loopback(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(fd, 128) < 0) die("listen");
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0) die("getsockname");
    printf("PORT %d\n", ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

static void accept_all(int ep, int listener) {
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN: accepted everything pending */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL) die("calloc");
        c->fd = fd;
        watch(ep, EPOLL_CTL_ADD, fd, EPOLLIN, c);
    }
}

int main(void) {
    int listener = listen_on_loopback();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    /* data.ptr NULL marks the listener, &ep marks stdin (the stop signal). */
    watch(ep, EPOLL_CTL_ADD, listener, EPOLLIN, NULL);
    watch(ep, EPOLL_CTL_ADD, STDIN_FILENO, EPOLLIN, &ep);
    struct epoll_event events[64];
    for (;;) {
        int ready = epoll_wait(ep, events, 64, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < ready; i++) {
            void *ptr = events[i].data.ptr;
            if (ptr == NULL) {
                accept_all(ep, listener);
            } else if (ptr == &ep) {
                char scratch[256];
                if (read(STDIN_FILENO, scratch, sizeof scratch) <= 0) return 0;
            } else {
                on_ready(ep, ptr, events[i].events);
            }
        }
    }
}
