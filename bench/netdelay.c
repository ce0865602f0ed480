/*
 * netdelay: a fixed one-way delay for the packets of one NFQUEUE, for kernels without sch_netem.
 * Part of bench/cluster-net.sh, which compiles it: gcc -O2 -o netdelay netdelay.c -lmnl (Debian: libmnl-dev).
 *
 *   netdelay QUEUE_NUM DELAY_US
 *
 * Binds to queue QUEUE_NUM of the current network namespace (fed by an iptables rule
 * "-j NFQUEUE --queue-num N --queue-bypass", which lets packets through while nothing is bound),
 * takes only each packet's metadata (NFQNL_COPY_META: no payload is copied), and accepts every packet
 * DELAY_US microseconds after it arrived. The delay is the same for all, so the packets due at any moment are
 * a prefix of the queue: one NFQNL_MSG_VERDICT_BATCH ("accept every id up to N") releases them in order.
 * Timer wake-ups come late (tens of microseconds idle, more under load): the releases are scheduled early by
 * an amount that a slow integral controller adjusts so that the mean hold time is DELAY_US (at most DELAY_US/2).
 * NFQA_CFG_F_GSO lets GSO super-packets through whole; NFQA_CFG_F_FAIL_OPEN accepts (instead of dropping) a
 * packet the queue has no room for; the queue holds up to 65536 packets and the socket buffer is 64 MiB.
 * On SIGTERM/SIGINT it accepts everything it holds and prints its counters on stderr:
 * packets, the deepest the queue got, the mean and longest hold, and the final advance.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>

#define QMAXLEN 65536u
#define RING (QMAXLEN * 2u)

static struct mnl_socket *nl;
static uint16_t qnum;
static char *buf;
static size_t bufsz = 1u << 20;
static struct { uint32_t id; int64_t arrived; } ring[RING];
static uint32_t head, tail; /* ring[head..tail) are held, oldest first */
static uint64_t packets, maxdepth, overflow;
static int64_t maxhold, delay_ns, advance; /* advance: released this early, to make up for the wake-up's lateness */
static double sumhold;
static volatile sig_atomic_t stop;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what) {
    fprintf(stderr, "netdelay: %s: %s\n", what, strerror(errno));
    exit(1);
}

static struct nlmsghdr *put_header(char *b, int type, int ack) {
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(b);
    nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
    nlh->nlmsg_flags = NLM_F_REQUEST | (ack ? NLM_F_ACK : 0);
    struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof *g);
    g->nfgen_family = AF_UNSPEC;
    g->version = NFNETLINK_V0;
    g->res_id = htons(qnum);
    return nlh;
}

/* sends a configuration message and waits for the kernel's acknowledgement */
static void configure(struct nlmsghdr *nlh, const char *what) {
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) die(what);
    int n = mnl_socket_recvfrom(nl, buf, bufsz);
    if (n < 0 || mnl_cb_run(buf, n, 0, mnl_socket_get_portid(nl), NULL, NULL) < 0) die(what);
}

static void accept_upto(uint32_t id) {
    char b[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = put_header(b, NFQNL_MSG_VERDICT_BATCH, 0);
    struct nfqnl_msg_verdict_hdr v = { .verdict = htonl(NF_ACCEPT), .id = htonl(id) };
    mnl_attr_put(nlh, NFQA_VERDICT_HDR, sizeof v, &v);
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) die("verdict");
}

static int attr_cb(const struct nlattr *a, void *data) {
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(a);
    if (type == NFQA_PACKET_HDR) tb[type] = a;
    return MNL_CB_OK;
}

static int packet_cb(const struct nlmsghdr *nlh, void *data) {
    const struct nlattr *tb[NFQA_MAX + 1] = { 0 };
    int64_t t = *(int64_t *)data;
    if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, tb) < 0 || !tb[NFQA_PACKET_HDR]) return MNL_CB_OK;
    const struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(tb[NFQA_PACKET_HDR]);
    uint32_t id = ntohl(ph->packet_id);
    if (tail - head >= RING) { /* cannot happen with QMAXLEN < RING; keep the order anyway */
        overflow++;
        accept_upto(ring[head].id);
        head++;
    }
    ring[tail % RING].id = id;
    ring[tail % RING].arrived = t;
    tail++;
    packets++;
    if (tail - head > maxdepth) maxdepth = tail - head;
    return MNL_CB_OK;
}

static void on_signal(int s) { (void)s; stop = 1; }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: netdelay QUEUE_NUM DELAY_US\n");
        return 2;
    }
    qnum = (uint16_t)atoi(argv[1]);
    delay_ns = (int64_t)(atof(argv[2]) * 1000.0);
    buf = malloc(bufsz);
    prctl(PR_SET_TIMERSLACK, 1000UL); /* 1 us instead of 50 us */

    nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl) die("netlink socket");
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) die("bind");
    int fd = mnl_socket_get_fd(nl), one = 1, rcv = 64 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);

    char b[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = put_header(b, NFQNL_MSG_CONFIG, 1);
    struct nfqnl_msg_config_cmd cmd = { .command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_INET) };
    mnl_attr_put(nlh, NFQA_CFG_CMD, sizeof cmd, &cmd);
    configure(nlh, "bind queue (is another netdelay bound to it?)");

    nlh = put_header(b, NFQNL_MSG_CONFIG, 1);
    struct nfqnl_msg_config_params params = { .copy_range = htonl(0), .copy_mode = NFQNL_COPY_META };
    mnl_attr_put(nlh, NFQA_CFG_PARAMS, sizeof params, &params);
    mnl_attr_put_u32(nlh, NFQA_CFG_QUEUE_MAXLEN, htonl(QMAXLEN));
    mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
    mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
    configure(nlh, "configure queue");

    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigset_t block, empty;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigemptyset(&empty);
    sigprocmask(SIG_BLOCK, &block, NULL); /* delivered only inside ppoll: no lost wake-up */
    fprintf(stderr, "netdelay: queue %u, delay %.1f us\n", qnum, delay_ns / 1000.0);

    while (!stop) {
        int64_t now = now_ns();
        if (head != tail && ring[head % RING].arrived + delay_ns - advance <= now) {
            uint32_t last = 0, n = 0;
            double err = 0;
            while (head != tail && ring[head % RING].arrived + delay_ns - advance <= now) {
                int64_t hold = now - ring[head % RING].arrived;
                if (hold > maxhold) maxhold = hold;
                sumhold += (double)hold;
                err += (double)(hold - delay_ns);
                last = ring[head % RING].id;
                head++;
                n++;
            }
            accept_upto(last);
            /* an integral controller: the mean hold converges on the delay despite timer and scheduling latency */
            advance += (int64_t)(err / n / 16);
            if (advance < 0) advance = 0;
            if (advance > delay_ns / 2) advance = delay_ns / 2;
        }
        struct timespec ts, *tsp = NULL;
        if (head != tail) {
            int64_t d = ring[head % RING].arrived + delay_ns - advance - now;
            if (d < 0) d = 0;
            ts.tv_sec = d / 1000000000LL;
            ts.tv_nsec = d % 1000000000LL;
            tsp = &ts;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = ppoll(&p, 1, tsp, &empty);
        if (r < 0 && errno != EINTR) die("ppoll");
        if (r > 0) {
            for (;;) {
                ssize_t n = recv(fd, buf, bufsz, MSG_DONTWAIT);
                if (n < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
                    if (errno == ENOBUFS) continue;
                    die("recv");
                }
                int64_t t = now_ns();
                mnl_cb_run(buf, (size_t)n, 0, 0, packet_cb, &t);
            }
        }
    }
    if (head != tail) accept_upto(ring[(tail - 1) % RING].id);
    fprintf(stderr, "netdelay: queue %u: %llu packets, deepest %llu, held %.1f us on average (target %.1f), %.1f us at most, "
            "released %.1f us early at the end%s\n", qnum, (unsigned long long)packets, (unsigned long long)maxdepth,
            packets ? sumhold / 1000.0 / (double)packets : 0.0, delay_ns / 1000.0, maxhold / 1000.0, advance / 1000.0,
            overflow ? " (ring overflowed)" : "");
    return 0;
}
